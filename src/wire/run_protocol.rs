//! The wire protocol of `skiff run` after the HTTP upgrade (pure): length-prefixed frames
//! carrying the client's input and window size one way, the process's output and exit status
//! the other.

/// The `Upgrade:` token of `POST /v1/apps/{app}/runs`.
pub const UPGRADE_PROTOCOL: &str = "skiff-run.1";
/// The largest payload a frame may carry; bigger input or output is sent in several frames.
pub const MAX_PAYLOAD: usize = 64 * 1024;
const HEADER_LEN: usize = 5;

/// One message on the upgraded connection. Each is `[tag: u8][length: u32 BE][payload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client → server: bytes for the process's standard input (or its terminal).
    Input(Vec<u8>),
    /// Client → server: the client's input ended.
    InputEnd,
    /// Client → server: the client's terminal changed size.
    Resize { cols: u16, rows: u16 },
    /// Server → client: standard output (or everything, with a terminal).
    Output(Vec<u8>),
    /// Server → client: standard error (never sent with a terminal).
    ErrorOutput(Vec<u8>),
    /// Server → client, last: the exit status the client should exit with, and a line for its
    /// standard error when the process did not simply exit (timed out, killed…).
    Exit { status: i32, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown frame type {0}")]
    UnknownTag(u8),
    #[error("frame of {0} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooLong(usize),
    #[error("malformed {0} frame")]
    Malformed(&'static str),
}

const INPUT: u8 = 0;
const INPUT_END: u8 = 1;
const RESIZE: u8 = 2;
const OUTPUT: u8 = 3;
const ERROR_OUTPUT: u8 = 4;
const EXIT: u8 = 5;

impl Frame {
    /// The frame's bytes on the wire. Callers keep payloads within [`MAX_PAYLOAD`].
    pub fn encode(&self) -> Vec<u8> {
        let (tag, payload): (u8, Vec<u8>) = match self {
            Frame::Input(data) => (INPUT, data.clone()),
            Frame::InputEnd => (INPUT_END, Vec::new()),
            Frame::Resize { cols, rows } => {
                let mut p = cols.to_be_bytes().to_vec();
                p.extend_from_slice(&rows.to_be_bytes());
                (RESIZE, p)
            }
            Frame::Output(data) => (OUTPUT, data.clone()),
            Frame::ErrorOutput(data) => (ERROR_OUTPUT, data.clone()),
            Frame::Exit { status, message } => {
                let mut p = status.to_be_bytes().to_vec();
                p.extend_from_slice(message.as_bytes());
                (EXIT, p)
            }
        };
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.push(tag);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn decode(tag: u8, payload: Vec<u8>) -> Result<Frame, ProtocolError> {
        Ok(match tag {
            INPUT => Frame::Input(payload),
            INPUT_END if payload.is_empty() => Frame::InputEnd,
            INPUT_END => return Err(ProtocolError::Malformed("input-end")),
            RESIZE => match payload.as_slice() {
                [c0, c1, r0, r1] => Frame::Resize {
                    cols: u16::from_be_bytes([*c0, *c1]),
                    rows: u16::from_be_bytes([*r0, *r1]),
                },
                _ => return Err(ProtocolError::Malformed("resize")),
            },
            OUTPUT => Frame::Output(payload),
            ERROR_OUTPUT => Frame::ErrorOutput(payload),
            EXIT => {
                if payload.len() < 4 {
                    return Err(ProtocolError::Malformed("exit"));
                }
                let status = i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                let message = String::from_utf8(payload[4..].to_vec())
                    .map_err(|_| ProtocolError::Malformed("exit"))?;
                Frame::Exit { status, message }
            }
            other => return Err(ProtocolError::UnknownTag(other)),
        })
    }
}

/// Splits a byte stream back into frames, whatever the chunks it arrives in.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete frame, `None` until one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if self.pending.len() < HEADER_LEN {
            return Ok(None);
        }
        let tag = self.pending[0];
        let len = u32::from_be_bytes([
            self.pending[1],
            self.pending[2],
            self.pending[3],
            self.pending[4],
        ]) as usize;
        if len > MAX_PAYLOAD {
            return Err(ProtocolError::TooLong(len));
        }
        if self.pending.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.pending[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.pending.drain(..HEADER_LEN + len);
        Frame::decode(tag, payload).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<Frame> {
        vec![
            Frame::Input(b"echo hi\n".to_vec()),
            Frame::Input(Vec::new()),
            Frame::InputEnd,
            Frame::Resize {
                cols: 132,
                rows: 43,
            },
            Frame::Output(vec![0, 255, 10]),
            Frame::ErrorOutput(b"oops".to_vec()),
            Frame::Exit {
                status: 7,
                message: String::new(),
            },
            Frame::Exit {
                status: -1,
                message: "run.1 timed out after 1h".into(),
            },
        ]
    }

    #[test]
    fn every_frame_round_trips_even_one_byte_at_a_time() {
        let wire: Vec<u8> = all_frames().iter().flat_map(Frame::encode).collect();
        let mut decoder = FrameDecoder::default();
        let mut decoded = Vec::new();
        for byte in wire {
            decoder.push(&[byte]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                decoded.push(frame);
            }
        }
        assert_eq!(decoded, all_frames());
    }

    #[test]
    fn frames_arriving_together_come_out_in_order() {
        let wire: Vec<u8> = all_frames().iter().flat_map(Frame::encode).collect();
        let mut decoder = FrameDecoder::default();
        decoder.push(&wire);
        for expected in all_frames() {
            assert_eq!(decoder.next_frame().unwrap(), Some(expected));
        }
        assert_eq!(decoder.next_frame().unwrap(), None);
    }

    #[test]
    fn header_layout_is_tag_then_big_endian_length() {
        assert_eq!(
            Frame::Resize { cols: 80, rows: 24 }.encode(),
            vec![2, 0, 0, 0, 4, 0, 80, 0, 24]
        );
        assert_eq!(Frame::InputEnd.encode(), vec![1, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_frames_are_refused() {
        let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
            (vec![9, 0, 0, 0, 0], ProtocolError::UnknownTag(9)),
            (vec![0, 0, 2, 0, 0], ProtocolError::TooLong(0x20000)),
            (vec![2, 0, 0, 0, 1, 7], ProtocolError::Malformed("resize")),
            (vec![5, 0, 0, 0, 2, 0, 0], ProtocolError::Malformed("exit")),
            (
                vec![1, 0, 0, 0, 1, 0],
                ProtocolError::Malformed("input-end"),
            ),
            (
                vec![5, 0, 0, 0, 5, 0, 0, 0, 1, 0xff],
                ProtocolError::Malformed("exit"),
            ),
        ];
        for (wire, error) in cases {
            let mut decoder = FrameDecoder::default();
            decoder.push(&wire);
            assert_eq!(decoder.next_frame(), Err(error), "{wire:?}");
        }
    }

    #[test]
    fn an_incomplete_frame_waits() {
        let mut decoder = FrameDecoder::default();
        let wire = Frame::Output(b"abcdef".to_vec()).encode();
        decoder.push(&wire[..7]);
        assert_eq!(decoder.next_frame().unwrap(), None);
        decoder.push(&wire[7..]);
        assert_eq!(
            decoder.next_frame().unwrap(),
            Some(Frame::Output(b"abcdef".to_vec()))
        );
    }
}
