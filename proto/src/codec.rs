//! The gRPC codec of the inference service: prost's, except that a message
//! that does not decode (garbage, cut short, a string that is not UTF-8) is
//! the client's error, `INVALID_ARGUMENT`, where tonic's prost codec answers
//! `INTERNAL` and so blames the server.

use std::marker::PhantomData;

use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::{ProstDecoder, ProstEncoder};

/// prost messages in, prost messages out; see the module.
#[derive(Debug, Clone, Default)]
pub struct ClientFaultCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Codec for ClientFaultCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ClientFaultDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ClientFaultDecoder(ProstDecoder::default())
    }
}

/// prost's decoder with its errors as `INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct ClientFaultDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for ClientFaultDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|e| Status::invalid_argument(format!("the message does not decode: {}", e.message())))
    }
}
