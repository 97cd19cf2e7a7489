//! What can go wrong with a request, in the protocol's terms: each kind is
//! one HTTP status and one gRPC code, so both protocols answer alike.

/// The class of a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Malformed body, wrong names, datatypes or shapes, undecodable images: 400, `INVALID_ARGUMENT`.
    BadRequest,
    /// No such model or version: 404, `NOT_FOUND`.
    NotFound,
    /// The model's queue is full: 503, `UNAVAILABLE`. The client may retry.
    Unavailable,
    /// The body is over `--max-request-bytes`: 413, `OUT_OF_RANGE` (the code
    /// tonic answers an oversized message with, before any handler runs).
    TooLarge,
    /// ONNX Runtime failed on a valid request: 500, `INTERNAL`.
    Internal,
}

impl Kind {
    /// The label of this kind in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Kind::BadRequest => "bad_request",
            Kind::NotFound => "not_found",
            Kind::Unavailable => "unavailable",
            Kind::TooLarge => "too_large",
            Kind::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            Kind::BadRequest => 400,
            Kind::NotFound => 404,
            Kind::TooLarge => 413,
            Kind::Internal => 500,
            Kind::Unavailable => 503,
        }
    }

    pub fn grpc_code(self) -> tonic::Code {
        match self {
            Kind::BadRequest => tonic::Code::InvalidArgument,
            Kind::NotFound => tonic::Code::NotFound,
            Kind::TooLarge => tonic::Code::OutOfRange,
            Kind::Internal => tonic::Code::Internal,
            Kind::Unavailable => tonic::Code::Unavailable,
        }
    }
}

/// A failed request: its kind and a message that says what was wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ServeError {
    pub kind: Kind,
    pub message: String,
}

impl ServeError {
    pub fn bad_request(message: impl Into<String>) -> ServeError {
        ServeError { kind: Kind::BadRequest, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> ServeError {
        ServeError { kind: Kind::NotFound, message: message.into() }
    }

    pub fn unavailable(message: impl Into<String>) -> ServeError {
        ServeError { kind: Kind::Unavailable, message: message.into() }
    }

    pub fn too_large(message: impl Into<String>) -> ServeError {
        ServeError { kind: Kind::TooLarge, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> ServeError {
        ServeError { kind: Kind::Internal, message: message.into() }
    }
}

impl From<ServeError> for tonic::Status {
    fn from(e: ServeError) -> tonic::Status {
        tonic::Status::new(e.kind.grpc_code(), e.message)
    }
}
