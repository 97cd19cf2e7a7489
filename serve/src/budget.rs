//! Memory for decoding images, shared by every request of every model.
//!
//! A compressed image says in its header how large it decodes (a 1 MB PNG
//! can hold a 1 GiB canvas), so each image is probed before a pixel is
//! made: over the per-image pixel limit it is refused at once, as PIL
//! refuses decompression bombs; otherwise it reserves what decoding it will
//! take from one budget for the whole server, waiting while other decodes
//! hold it. The server's memory then follows its configuration, whatever
//! the clients send at once.

use std::sync::Arc;
use std::time::Duration;

use cnnzoo_models::data::ImageProbe;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ServeError;

/// How long an image waits for room in the budget before its request is
/// refused with 503 (the client may retry).
pub const DECODE_WAIT: Duration = Duration::from_secs(60);

/// The budget is counted in KiB, so that a `u32` of permits spans 4 TiB.
const UNIT: u64 = 1024;

/// The bounds on decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Most pixels in one image (PIL's decompression-bomb error threshold by default).
    pub max_image_pixels: u64,
    /// Bytes of decoded images in memory at once, all requests together.
    pub memory_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_image_pixels: 2 * 89_478_485, memory_bytes: 1 << 30 }
    }
}

/// The server's decoding budget.
#[derive(Debug)]
pub struct DecodeBudget {
    limits: DecodeLimits,
    room: Arc<Semaphore>,
}

/// Memory reserved for one image; given back when dropped.
#[derive(Debug)]
pub struct Reservation(Option<OwnedSemaphorePermit>);

impl Reservation {
    /// Gives back all but `bytes` of the reservation: what stays in memory
    /// after decoding (the pixels a model that preprocesses itself is
    /// handed) is held until the request is answered.
    pub fn keep(mut self, bytes: u64) -> Reservation {
        let keep = units(bytes) as usize;
        let kept = match self.0.as_mut() {
            Some(p) if p.num_permits() > keep => p.split(keep),
            _ => self.0.take(),
        };
        Reservation(kept)
    }
}

fn units(bytes: u64) -> u64 {
    bytes.div_ceil(UNIT)
}

impl DecodeBudget {
    pub fn new(limits: DecodeLimits) -> DecodeBudget {
        let total = units(limits.memory_bytes).min(u64::from(u32::MAX)) as usize;
        DecodeBudget { limits, room: Arc::new(Semaphore::new(total)) }
    }

    /// Checks an image against the limits and reserves `bytes` for
    /// decoding it, waiting up to [`DECODE_WAIT`] for room.
    pub async fn reserve(&self, probe: &ImageProbe, bytes: u64, name: &str) -> Result<Reservation, ServeError> {
        let max_pixels = self.limits.max_image_pixels;
        if probe.pixels() > max_pixels {
            return Err(ServeError::bad_request(format!(
                "{name}: {}x{} is {} pixels, over the server's limit of {max_pixels} per image (--max-image-pixels)",
                probe.width,
                probe.height,
                probe.pixels()
            )));
        }
        let mib = |b: u64| b.div_ceil(1 << 20);
        if bytes > self.limits.memory_bytes {
            return Err(ServeError::too_large(format!(
                "{name}: {}x{} needs {} MiB to decode, over the server's decoding memory of {} MiB (--decode-memory-mb)",
                probe.width,
                probe.height,
                mib(bytes),
                mib(self.limits.memory_bytes)
            )));
        }
        let n = units(bytes).max(1) as u32;
        match tokio::time::timeout(DECODE_WAIT, Arc::clone(&self.room).acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Ok(Reservation(Some(permit))),
            Ok(Err(_)) => Err(ServeError::unavailable("the server is shutting down")),
            Err(_) => Err(ServeError::unavailable(format!(
                "{name}: other images have held the server's decoding memory ({} MiB, --decode-memory-mb) for {}s; retry later",
                mib(self.limits.memory_bytes),
                DECODE_WAIT.as_secs()
            ))),
        }
    }
}
