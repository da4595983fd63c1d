//! A connection's pending output: a queue of byte chunks written with vectored writes.
//!
//! Chunks are either owned (responses, handshakes) or shared: a WebSocket frame pushed to many
//! subscribers is encoded once and every connection queues the same `Rc<[u8]>`, so fan-out
//! costs one allocation, not one per subscriber.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

/// Small writes are appended to the last owned chunk up to this size, so that a pipeline of
/// tiny responses does not become a long list of tiny slices.
const COALESCE_LIMIT: usize = 16 * 1024;
/// `writev` takes at most this many slices per call in practice (IOV_MAX is 1024; fewer keeps
/// the slice array on the stack-friendly side).
const MAX_SLICES: usize = 64;

#[derive(Debug)]
enum Chunk {
    Owned(Vec<u8>),
    Shared(Rc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(bytes) => bytes,
            Chunk::Shared(bytes) => bytes,
        }
    }
}

#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    len: usize,
}

impl OutQueue {
    /// Bytes still to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if let Some(Chunk::Owned(last)) = self.chunks.back_mut()
            && last.len() + bytes.len() <= COALESCE_LIMIT
        {
            last.extend_from_slice(bytes);
            return;
        }
        self.chunks.push_back(Chunk::Owned(bytes.to_vec()));
    }

    /// Queues a buffer without copying it.
    pub fn push(&mut self, bytes: Vec<u8>) {
        if bytes.len() <= COALESCE_LIMIT / 4 {
            self.extend_from_slice(&bytes);
        } else {
            self.len += bytes.len();
            self.chunks.push_back(Chunk::Owned(bytes));
        }
    }

    pub fn push_shared(&mut self, bytes: Rc<[u8]>) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.chunks.push_back(Chunk::Shared(bytes));
    }

    /// One vectored write of the front of the queue. `Ok(0)` only when the queue is empty.
    pub fn write_to(&mut self, writer: &mut impl Write) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
            let bytes = chunk.bytes();
            slices[i] = IoSlice::new(if i == 0 { &bytes[self.front_written..] } else { bytes });
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        let written = writer.write_vectored(&slices[..count])?;
        self.advance(written);
        Ok(written)
    }

    fn advance(&mut self, mut written: usize) {
        self.len -= written;
        while written > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let left = front.bytes().len() - self.front_written;
            if written < left {
                self.front_written += written;
                return;
            }
            written -= left;
            self.chunks.pop_front();
            self.front_written = 0;
        }
        if self.chunks.is_empty() {
            // An idle connection should not keep the capacity of its busiest moment.
            self.chunks.shrink_to(4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `limit` bytes per call, like a socket with a full buffer.
    struct Trickle {
        received: Vec<u8>,
        limit: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.limit);
            self.received.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut total = 0;
            for buf in bufs {
                let n = self.write(&buf[..buf.len().min(self.limit - total)])?;
                total += n;
                if total == self.limit {
                    break;
                }
            }
            Ok(total)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bytes_leave_in_order_across_partial_writes() {
        let mut queue = OutQueue::default();
        let shared: Rc<[u8]> = Rc::from(&b"shared-frame"[..]);
        queue.extend_from_slice(b"head ");
        queue.push(vec![b'x'; 40_000]);
        queue.push_shared(shared.clone());
        queue.extend_from_slice(b" tail");
        let mut expected = b"head ".to_vec();
        expected.extend(std::iter::repeat_n(b'x', 40_000));
        expected.extend_from_slice(b"shared-frame tail");
        assert_eq!(queue.len(), expected.len());

        let mut sink = Trickle { received: Vec::new(), limit: 7 };
        while !queue.is_empty() {
            assert!(queue.write_to(&mut sink).unwrap_or(0) > 0);
        }
        assert_eq!(sink.received, expected);
        assert_eq!(queue.write_to(&mut sink).unwrap_or(1), 0);
        assert_eq!(Rc::strong_count(&shared), 1, "written shared chunks are released");
    }

    #[test]
    fn small_writes_coalesce() {
        let mut queue = OutQueue::default();
        for _ in 0..100 {
            queue.extend_from_slice(b"HTTP/1.1 202 Accepted\r\n\r\n");
        }
        assert_eq!(queue.chunks.len(), 1);
    }

    #[test]
    fn appending_after_a_partial_write_keeps_order() {
        let mut queue = OutQueue::default();
        queue.extend_from_slice(b"abcdef");
        let mut sink = Trickle { received: Vec::new(), limit: 2 };
        assert_eq!(queue.write_to(&mut sink).unwrap_or(0), 2);
        queue.extend_from_slice(b"gh");
        while !queue.is_empty() {
            let _ = queue.write_to(&mut sink);
        }
        assert_eq!(sink.received, b"abcdefgh");
    }
}
