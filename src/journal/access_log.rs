//! Follows Caddy's access log file (one JSON line per request) without a helper process: reads
//! what was appended whenever inotify reports a change to its folder, follows it across Caddy's
//! rolls, and keeps its place (inode and byte offset, always at a line boundary) on disk, so
//! lines written while skiffd was down are read when it is back.

use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Save the position after this many lines…
const SAVE_EVERY: usize = 64;
/// …and when the file had nothing new for this long.
const SAVE_WHEN_QUIET: Duration = Duration::from_millis(500);
/// Longest line kept; a longer one (never an access line) is skipped.
const MAX_LINE: usize = 1024 * 1024;

/// Where reading stopped: which file (its inode) and how far into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub inode: u64,
    pub offset: u64,
}

impl Position {
    /// Parses the saved form `INODE OFFSET`.
    pub fn parse(saved: &str) -> Option<Self> {
        let mut parts = saved.split_whitespace();
        let inode = parts.next()?.parse().ok()?;
        let offset = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self { inode, offset })
    }

    pub fn render(&self) -> String {
        format!("{} {}\n", self.inode, self.offset)
    }
}

/// Where to start reading a file with `inode` and `len` bytes, given the saved position: where
/// it stopped in the same file; the start of a file that replaced it (it rolled while skiffd was
/// down) or shrank; and the end when nothing was saved yet, as a new follower starts.
pub fn start_offset(saved: Option<Position>, inode: u64, len: u64) -> u64 {
    match saved {
        None => len,
        Some(p) if p.inode == inode && p.offset <= len => p.offset,
        Some(_) => 0,
    }
}

/// Splits appended bytes into whole lines, keeping a partial last line for the next read.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Bytes since the last line boundary, discarded ones included.
    pending_bytes: u64,
    /// Discarding the rest of an over-long line until its newline.
    discarding: bool,
}

impl LineBuffer {
    /// The whole lines in what was kept plus `bytes` (without their newlines) and how many bytes
    /// they took, newlines included; what follows the last newline is kept.
    pub fn push(&mut self, bytes: &[u8]) -> (Vec<String>, u64) {
        let mut lines = Vec::new();
        let mut consumed = 0u64;
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            self.pending_bytes += chunk.len() as u64;
            if !self.discarding {
                self.pending.extend_from_slice(chunk);
            }
            if chunk.ends_with(b"\n") {
                consumed += self.pending_bytes;
                if !self.discarding {
                    self.pending.pop();
                    lines.push(String::from_utf8_lossy(&self.pending).into_owned());
                }
                self.clear();
            } else if self.pending.len() > MAX_LINE {
                self.pending.clear();
                self.discarding = true;
            }
        }
        (lines, consumed)
    }

    fn clear(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
        self.discarding = false;
    }
}

/// One open access-log file and how far it has been read.
struct Open {
    file: tokio::fs::File,
    inode: u64,
    /// Offset of the end of the last whole line handed out.
    offset: u64,
}

/// Follows `log` until `stop` resolves, handing every line to `each`; the position is kept in
/// `position_file` (every [`SAVE_EVERY`] lines, once the file is quiet for [`SAVE_WHEN_QUIET`],
/// and at the stop). Returns early only on an error (the caller starts it again).
pub async fn follow(
    log: PathBuf,
    position_file: PathBuf,
    stop: impl std::future::Future<Output = ()>,
    mut each: impl FnMut(&str),
) -> std::io::Result<()> {
    tokio::pin!(stop);
    let dir = log.parent().unwrap_or(Path::new("/")).to_owned();
    let mut saved = read_position(&position_file).await;
    if saved.is_none() && tokio::fs::metadata(&log).await.is_err() {
        // No log yet (Caddy makes it with the first app): all it will hold is unread, also
        // when this follower is started again before it appears.
        save_position(&position_file, FROM_THE_START).await;
        saved = Some(FROM_THE_START);
    }
    let inotify = Inotify::init()?;
    inotify.watches().add(
        &dir,
        WatchMask::MODIFY | WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::MOVED_FROM,
    )?;
    let mut events = inotify.into_event_stream([0u8; 4096])?;
    let mut resume = saved;
    let mut lines = LineBuffer::default();
    let mut open: Option<Open> = None;
    loop {
        if open.is_none() {
            open = open_at(&log, resume).await?;
            lines.clear();
            // A file that appears later is new: all of it is unread.
            resume = Some(FROM_THE_START);
        }
        let mut position = None;
        if let Some(current) = open.as_mut() {
            read_new(current, &mut lines, &mut each, &position_file).await?;
            if rolled(&log, current.inode).await {
                // Caddy rolled the file: the rest of the old one, then the new one from 0.
                read_new(current, &mut lines, &mut each, &position_file).await?;
                open = None;
                continue;
            }
            position = Some(current.position());
        }
        let unsaved = position.is_some() && position != saved;
        let wait = async {
            if unsaved {
                tokio::time::timeout(SAVE_WHEN_QUIET, events.next()).await
            } else {
                Ok(events.next().await)
            }
        };
        let event = tokio::select! {
            () = &mut stop => {
                if let (true, Some(position)) = (unsaved, position) {
                    save_position(&position_file, position).await;
                }
                return Ok(());
            }
            event = wait => event,
        };
        match event {
            Err(_) => {
                if let Some(position) = position {
                    save_position(&position_file, position).await;
                    saved = Some(position);
                }
            }
            Ok(Some(event)) => {
                event?;
                // Let a burst of writes settle into one read.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(None) => return Err(std::io::Error::other("inotify stream ended")),
        }
    }
}

/// Where a file that replaced the saved one is read from.
const FROM_THE_START: Position = Position {
    inode: 0,
    offset: 0,
};

impl Open {
    fn position(&self) -> Position {
        Position {
            inode: self.inode,
            offset: self.offset,
        }
    }
}

/// Opens the log at the place to resume from; `None` while it does not exist yet.
async fn open_at(log: &Path, saved: Option<Position>) -> std::io::Result<Option<Open>> {
    let mut file = match tokio::fs::File::open(log).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata().await?;
    let offset = start_offset(saved, meta.ino(), meta.len());
    file.seek(SeekFrom::Start(offset)).await?;
    Ok(Some(Open {
        file,
        inode: meta.ino(),
        offset,
    }))
}

/// Reads to the end of the file, handing out whole lines and saving the position now and then.
async fn read_new(
    open: &mut Open,
    lines: &mut LineBuffer,
    each: &mut impl FnMut(&str),
    position_file: &Path,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut unsaved = 0usize;
    loop {
        let n = open.file.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let (whole, consumed) = lines.push(&buf[..n]);
        open.offset += consumed;
        for line in &whole {
            each(line);
        }
        unsaved += whole.len();
        if unsaved >= SAVE_EVERY {
            save_position(position_file, open.position()).await;
            unsaved = 0;
        }
    }
}

/// Whether the path now names another file than the one open (or none).
async fn rolled(log: &Path, open_inode: u64) -> bool {
    match tokio::fs::metadata(log).await {
        Ok(meta) => meta.ino() != open_inode,
        Err(_) => true,
    }
}

async fn read_position(path: &Path) -> Option<Position> {
    let saved = tokio::fs::read_to_string(path).await.ok()?;
    Position::parse(&saved)
}

async fn save_position(path: &Path, position: Position) {
    let path = path.to_owned();
    let written = tokio::task::spawn_blocking(move || {
        crate::files::write_private(&path, position.render().as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot save the access log position"),
        Err(e) => tracing::warn!(error = %e, "cannot save the access log position"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_resume_where_reading_stopped() {
        let at = |inode, offset| Some(Position { inode, offset });
        let cases = [
            (None, 7, 100, 100),
            (at(7, 40), 7, 100, 40),
            (at(7, 100), 7, 100, 100),
            (at(7, 140), 7, 100, 0),
            (at(6, 40), 7, 100, 0),
            (at(0, 0), 7, 100, 0),
        ];
        for (saved, inode, len, want) in cases {
            assert_eq!(start_offset(saved, inode, len), want, "{saved:?}");
        }
        assert_eq!(
            Position::parse(
                &Position {
                    inode: 12,
                    offset: 34
                }
                .render()
            ),
            at(12, 34)
        );
        for bad in ["", "12", "12 x", "12 34 56", "-1 2"] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn whole_lines_come_out_and_partial_ones_wait() {
        let mut buf = LineBuffer::default();
        assert_eq!(buf.push(b"one\ntw"), (vec!["one".to_owned()], 4));
        assert_eq!(buf.push(b"o\nthree"), (vec!["two".to_owned()], 4));
        assert_eq!(buf.push(b"\n"), (vec!["three".to_owned()], 6));
        assert_eq!(buf.push(b""), (vec![], 0));
        let long = vec![b'x'; MAX_LINE + 10];
        assert_eq!(buf.push(&long), (vec![], 0));
        assert_eq!(
            buf.push(b"yy\nok\n"),
            (vec!["ok".to_owned()], (MAX_LINE + 10 + 3 + 3) as u64)
        );
    }

    async fn collect_until(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
        n: usize,
    ) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            let line = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("a line arrives")
                .expect("the follower runs");
            got.push(line);
        }
        got
    }

    #[tokio::test]
    async fn follows_appends_and_rolls_and_resumes_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs").join("access.log");
        let position = dir.path().join("access.position");
        std::fs::create_dir(log.parent().unwrap()).unwrap();
        std::fs::write(&log, "before the first start\n").unwrap();
        let append = |text: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&log)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        let start = || {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let stop = async move {
                let _ = stop_rx.await;
            };
            let task = tokio::spawn(follow(log.clone(), position.clone(), stop, move |l| {
                let _ = tx.send(l.to_owned());
            }));
            (task, stop_tx, rx)
        };

        let (task, stop, mut rx) = start();
        tokio::time::sleep(Duration::from_millis(200)).await;
        append("a\nb");
        append("\n");
        assert_eq!(collect_until(&mut rx, 2).await, ["a", "b"]);
        // Caddy rolls: the old file is renamed, a new one takes its name.
        append("c\n");
        std::fs::rename(&log, dir.path().join("logs").join("access-old.log")).unwrap();
        append("d\n");
        assert_eq!(collect_until(&mut rx, 2).await, ["c", "d"]);
        // Stopped at once: the position is saved at the stop, not only when quiet.
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();

        // Lines written while no follower ran are read at the next start, and none twice.
        append("e\nf\n");
        let (task, _stop, mut rx) = start();
        assert_eq!(collect_until(&mut rx, 2).await, ["e", "f"]);
        append("g\n");
        assert_eq!(collect_until(&mut rx, 1).await, ["g"]);
        task.abort();
    }

    #[tokio::test]
    async fn a_log_that_appears_after_the_first_start_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs").join("access.log");
        let position = dir.path().join("access.position");
        // The folder is not there yet: the follower ends with an error and is started again.
        let missing = follow(
            log.clone(),
            position.clone(),
            std::future::pending(),
            |_| {},
        )
        .await;
        assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
        std::fs::create_dir(log.parent().unwrap()).unwrap();
        std::fs::write(&log, "first\nsecond\n").unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(follow(log, position, std::future::pending(), move |l| {
            let _ = tx.send(l.to_owned());
        }));
        assert_eq!(collect_until(&mut rx, 2).await, ["first", "second"]);
        task.abort();
    }
}
