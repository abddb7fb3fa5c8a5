//! The process side of an attached run: a pseudo-terminal, or three pipes, as async streams;
//! the process's ends go to systemd in the unit's properties.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustix::pty::OpenptFlags;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::systemd::properties::{OneOffStdio, SharedFd};

/// Which of the client's outputs a stream goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Stdout,
    Stderr,
}

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// skiffd's side of a run's standard streams.
pub struct ChildIo {
    /// What the unit's properties say about its streams.
    pub stdio: OneOffStdio,
    pub input: Option<Writer>,
    pub outputs: Vec<(Channel, Reader)>,
    /// The terminal, to resize it and to send end-of-input as a terminal would.
    pub terminal: Option<Arc<AsyncFd<OwnedFd>>>,
    /// The terminal's process side, held open until the process has it (so the terminal is
    /// not hung up before it starts); dropped when the process ends.
    process_side: Option<OwnedFd>,
}

impl ChildIo {
    /// A new pseudo-terminal of `cols`×`rows`.
    pub fn terminal(cols: u16, rows: u16) -> io::Result<Self> {
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = rustix::pty::openpt(flags)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let path = rustix::pty::ptsname(&master, Vec::new())?
            .into_string()
            .map_err(|_| io::Error::other("the terminal's path is not UTF-8"))?;
        resize(&master, cols, rows)?;
        let process_side = rustix::pty::ioctl_tiocgptpeer(&master, flags)?;
        rustix::io::ioctl_fionbio(&master, true)?;
        // `AsyncFd::new` is deprecated because a borrowed descriptor could be closed while
        // registered; here the `AsyncFd` owns the `OwnedFd`, so nothing else can close it.
        #[allow(deprecated)]
        let master = Arc::new(AsyncFd::new(master)?);
        Ok(Self {
            stdio: OneOffStdio::Terminal { tty_path: path },
            input: Some(Box::new(Pty(Arc::clone(&master)))),
            outputs: vec![(Channel::Stdout, Box::new(Pty(Arc::clone(&master))))],
            terminal: Some(master),
            process_side: Some(process_side),
        })
    }

    /// Pipes for standard input, output and error.
    pub fn pipes() -> io::Result<Self> {
        let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC);
        let (stdin_read, stdin_write) = pipe()?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        let input = tokio::net::unix::pipe::Sender::from_owned_fd(stdin_write)?;
        let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(stdout_read)?;
        let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(stderr_read)?;
        Ok(Self {
            stdio: OneOffStdio::Pipes {
                stdin: SharedFd::new(stdin_read),
                stdout: SharedFd::new(stdout_write),
                stderr: SharedFd::new(stderr_write),
            },
            input: Some(Box::new(input)),
            outputs: vec![
                (Channel::Stdout, Box::new(stdout)),
                (Channel::Stderr, Box::new(stderr)),
            ],
            terminal: None,
            process_side: None,
        })
    }

    /// Lets go of the process's ends, once the process has ended, so the outputs reach their
    /// end when the last process holding them is gone.
    pub fn release_process_side(&mut self) {
        self.process_side = None;
        self.stdio = OneOffStdio::Journal;
    }
}

/// Sets a terminal's window size; the process in its foreground gets SIGWINCH.
pub fn resize(terminal: &impl std::os::fd::AsFd, cols: u16, rows: u16) -> io::Result<()> {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    Ok(rustix::termios::tcsetwinsize(terminal, size)?)
}

/// One direction of the terminal's controlling side.
struct Pty(Arc<AsyncFd<OwnedFd>>);

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut *unfilled)?)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: every process that had the terminal open has closed it — the end.
                Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                    return Poll::Ready(Ok(()))
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|fd| Ok(rustix::io::write(fd.get_ref(), data)?)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_terminal_echoes_what_is_typed_and_knows_its_size() {
        let mut io = ChildIo::terminal(100, 30).unwrap();
        let OneOffStdio::Terminal { tty_path } = &io.stdio else {
            panic!("not a terminal: {:?}", io.stdio)
        };
        assert!(tty_path.starts_with("/dev/pts/"), "{tty_path}");
        let size = rustix::termios::tcgetwinsize(io.terminal.as_ref().unwrap().get_ref()).unwrap();
        assert_eq!((size.ws_col, size.ws_row), (100, 30));
        let mut input = io.input.take().unwrap();
        input.write_all(b"hi\n").await.unwrap();
        let (_, mut output) = io.outputs.remove(0);
        let mut buf = [0u8; 16];
        let n = output.read(&mut buf).await.unwrap();
        // The line discipline echoes, turning the newline into CR LF.
        assert_eq!(&buf[..n], b"hi\r\n");
        // With the process side gone, the output ends instead of failing.
        io.release_process_side();
        let n = output.read(&mut buf).await.unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn pipes_carry_bytes_untouched_and_end_when_the_writer_is_gone() {
        let mut io = ChildIo::pipes().unwrap();
        let OneOffStdio::Pipes { stdout, .. } = io.stdio.clone() else {
            panic!("not pipes")
        };
        rustix::io::write(stdout.0.as_ref(), b"a\nb").unwrap();
        drop(stdout);
        io.release_process_side();
        let mut got = Vec::new();
        io.outputs[0].1.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"a\nb");
    }
}
