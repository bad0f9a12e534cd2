//! When a connection last moved a byte: a stream wrapper that notes every
//! read and write that made progress, and a future that ends once the
//! connection has been idle for a given time (the listener's idle timeout).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The last time a connection moved a byte, shared by its stream and its watchdog.
#[derive(Clone, Debug)]
pub struct LastMoved {
    base: Instant,
    /// Milliseconds after `base`.
    at_ms: Arc<AtomicU64>,
}

impl LastMoved {
    /// Starts the clock now.
    pub fn now() -> LastMoved {
        LastMoved {
            base: Instant::now(),
            at_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.at_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// When a byte last moved.
    pub fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.at_ms.load(Ordering::Relaxed))
    }

    /// Ends once nothing has moved for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A stream that notes its progress in a [`LastMoved`].
#[derive(Debug)]
pub struct Activity<S> {
    inner: S,
    moved: LastMoved,
}

impl<S> Activity<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, moved: LastMoved) -> Activity<S> {
        Activity { inner, moved }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.moved.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Activity<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn reads_and_writes_that_move_bytes_reset_the_idle_clock() {
        rt().block_on(async {
            let moved = LastMoved::now();
            let (a, mut b) = tokio::io::duplex(64);
            let mut s = Activity::new(a, moved.clone());
            tokio::time::advance(Duration::from_secs(3)).await;
            b.write_all(b"GET").await.unwrap();
            let mut buf = [0u8; 3];
            s.read_exact(&mut buf).await.unwrap();
            assert!(moved.last() >= moved.base + Duration::from_secs(3));
            tokio::time::advance(Duration::from_secs(2)).await;
            s.write_all(b"ok").await.unwrap();
            assert!(moved.last() >= moved.base + Duration::from_secs(5));
        });
    }

    #[test]
    fn idle_ends_only_after_a_quiet_stretch() {
        rt().block_on(async {
            let moved = LastMoved::now();
            let watcher = moved.clone();
            let idle = tokio::spawn(async move {
                watcher.idle_for(Duration::from_secs(10)).await;
                Instant::now()
            });
            // Activity at 8 s pushes the end to 18 s.
            tokio::time::sleep(Duration::from_secs(8)).await;
            moved.touch();
            let ended = idle.await.unwrap();
            assert!(ended >= moved.base + Duration::from_secs(18), "{ended:?}");
        });
    }
}
