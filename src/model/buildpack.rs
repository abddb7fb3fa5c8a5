//! Classic buildpacks: one reference (a git URL or a directory on the server), and an app's list
//! of them as `skiff buildpacks:set/add/remove` edit it (pure).

use std::fmt;

/// Most buildpacks one app may list.
pub const MAX_BUILDPACKS: usize = 16;

/// Where a classic buildpack comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildpackSource {
    /// A directory on the server, bind-mounted read-only into the build.
    Local(String),
    /// A git URL (optionally `#ref`), cloned inside the build.
    Git {
        url: String,
        reference: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildpackError {
    #[error("invalid buildpack {0:?}: use an https:// or git URL (optionally #ref), or an absolute path on the server")]
    Invalid(String),
    #[error("buildpack {0} is listed twice")]
    Duplicate(String),
    #[error("an app lists at most {MAX_BUILDPACKS} buildpacks")]
    TooMany,
    #[error("there is no buildpack {index}: the app has {len}")]
    NoSuchIndex { index: usize, len: usize },
    #[error("the app has {0} buildpacks: say which one to replace with -i N")]
    WhichOne(usize),
    #[error("buildpack {0} is not set on the app")]
    NotSet(String),
}

impl BuildpackSource {
    /// Parses one reference: an absolute path without `..`, or an `https://`, `http://`,
    /// `git://` or `ssh://` URL with an optional `#ref`; nothing that could pass for an option.
    pub fn parse(raw: &str) -> Result<Self, BuildpackError> {
        let raw = raw.trim();
        let bad = || BuildpackError::Invalid(raw.to_owned());
        if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        if raw.starts_with('/') {
            if raw.split('/').any(|p| p == "..") {
                return Err(bad());
            }
            return Ok(Self::Local(raw.to_owned()));
        }
        let is_url = ["https://", "http://", "git://", "ssh://"]
            .iter()
            .any(|p| raw.starts_with(p));
        if !is_url {
            return Err(bad());
        }
        let (url, reference) = match raw.split_once('#') {
            Some((u, r)) if !r.is_empty() && !r.starts_with('-') => (u, Some(r.to_owned())),
            Some(_) => return Err(bad()),
            None => (raw, None),
        };
        Ok(Self::Git {
            url: url.to_owned(),
            reference,
        })
    }
}

impl fmt::Display for BuildpackSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(path) => f.write_str(path),
            Self::Git {
                url,
                reference: None,
            } => f.write_str(url),
            Self::Git {
                url,
                reference: Some(r),
            } => write!(f, "{url}#{r}"),
        }
    }
}

/// An app's buildpacks in the order they run: each valid, none twice, at most
/// [`MAX_BUILDPACKS`]. Empty means the build detects what to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buildpacks(Vec<BuildpackSource>);

impl Buildpacks {
    /// Checks a whole list, as stored or as sent.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, BuildpackError> {
        let mut list = Self::default();
        for r in raw {
            list.insert(list.0.len() + 1, BuildpackSource::parse(r.as_ref())?)?;
        }
        Ok(list)
    }

    pub fn as_slice(&self) -> &[BuildpackSource] {
        &self.0
    }

    pub fn urls(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// `buildpacks:set URL [-i N]`: replaces buildpack N (1-based), or sets the only one.
    pub fn set(
        &mut self,
        pack: BuildpackSource,
        index: Option<usize>,
    ) -> Result<(), BuildpackError> {
        let index = match index {
            Some(i) => i,
            None if self.0.len() > 1 => return Err(BuildpackError::WhichOne(self.0.len())),
            None => 1,
        };
        if index == self.0.len() + 1 {
            return self.insert(index, pack);
        }
        let at = self.position(index)?;
        if self
            .0
            .iter()
            .enumerate()
            .any(|(i, p)| i != at && *p == pack)
        {
            return Err(BuildpackError::Duplicate(pack.to_string()));
        }
        self.0[at] = pack;
        Ok(())
    }

    /// `buildpacks:add URL [-i N]`: inserts at N (1-based), at the end without one.
    pub fn add(
        &mut self,
        pack: BuildpackSource,
        index: Option<usize>,
    ) -> Result<(), BuildpackError> {
        self.insert(index.unwrap_or(self.0.len() + 1), pack)
    }

    /// `buildpacks:remove URL` or `-i N`.
    pub fn remove(&mut self, which: BuildpackChoice) -> Result<BuildpackSource, BuildpackError> {
        let at = match which {
            BuildpackChoice::Index(index) => self.position(index)?,
            BuildpackChoice::Source(pack) => self
                .0
                .iter()
                .position(|p| *p == pack)
                .ok_or_else(|| BuildpackError::NotSet(pack.to_string()))?,
        };
        Ok(self.0.remove(at))
    }

    fn insert(&mut self, index: usize, pack: BuildpackSource) -> Result<(), BuildpackError> {
        if self.0.contains(&pack) {
            return Err(BuildpackError::Duplicate(pack.to_string()));
        }
        if self.0.len() >= MAX_BUILDPACKS {
            return Err(BuildpackError::TooMany);
        }
        if index == 0 || index > self.0.len() + 1 {
            return Err(self.no_such(index));
        }
        self.0.insert(index - 1, pack);
        Ok(())
    }

    fn position(&self, index: usize) -> Result<usize, BuildpackError> {
        (1..=self.0.len())
            .contains(&index)
            .then(|| index - 1)
            .ok_or_else(|| self.no_such(index))
    }

    fn no_such(&self, index: usize) -> BuildpackError {
        BuildpackError::NoSuchIndex {
            index,
            len: self.0.len(),
        }
    }
}

/// Which buildpack `buildpacks:remove` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildpackChoice {
    Index(usize),
    Source(BuildpackSource),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(raw: &str) -> BuildpackSource {
        BuildpackSource::parse(raw).unwrap()
    }

    fn list(raw: &[&str]) -> Buildpacks {
        Buildpacks::parse(raw).unwrap()
    }

    #[test]
    fn references_parse_and_print_back() {
        assert_eq!(
            pack("https://example.org/bp.git#v2"),
            BuildpackSource::Git {
                url: "https://example.org/bp.git".into(),
                reference: Some("v2".into())
            }
        );
        assert_eq!(pack(" /srv/bp "), BuildpackSource::Local("/srv/bp".into()));
        for raw in [
            "https://example.org/bp.git#v2",
            "git://h/x",
            "/srv/bp",
            "ssh://git@h/x.git",
        ] {
            assert_eq!(pack(raw).to_string(), raw);
        }
        for bad in [
            "",
            "relative/path",
            "heroku/python",
            "/a/../etc",
            "-oProxyCommand=x",
            "https://x#-u",
            "https://x#",
            "file:///etc",
            "https://a b",
        ] {
            assert_eq!(
                BuildpackSource::parse(bad),
                Err(BuildpackError::Invalid(bad.trim().to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn whole_lists_refuse_duplicates_and_too_many() {
        assert_eq!(list(&["/a", "/b"]).urls(), ["/a", "/b"]);
        assert_eq!(
            Buildpacks::parse(&["/a", "/a"]),
            Err(BuildpackError::Duplicate("/a".into()))
        );
        let many: Vec<String> = (0..=MAX_BUILDPACKS).map(|i| format!("/bp{i}")).collect();
        assert_eq!(Buildpacks::parse(&many), Err(BuildpackError::TooMany));
        assert_eq!(
            Buildpacks::parse(&many[1..]).unwrap().as_slice().len(),
            MAX_BUILDPACKS
        );
    }

    #[test]
    fn edits_work_as_herokus_verbs_do() {
        type Edit = fn(&mut Buildpacks) -> Result<(), BuildpackError>;
        /// The list before, the edit, the list after or the refusal.
        type Case = (
            &'static [&'static str],
            Edit,
            Result<&'static [&'static str], BuildpackError>,
        );
        let cases: [Case; 14] = [
            (&[], |l| l.set(pack("/a"), None), Ok(&["/a"])),
            (&["/a"], |l| l.set(pack("/b"), None), Ok(&["/b"])),
            (
                &["/a", "/b"],
                |l| l.set(pack("/c"), None),
                Err(BuildpackError::WhichOne(2)),
            ),
            (
                &["/a", "/b"],
                |l| l.set(pack("/c"), Some(2)),
                Ok(&["/a", "/c"]),
            ),
            (
                &["/a", "/b"],
                |l| l.set(pack("/c"), Some(3)),
                Ok(&["/a", "/b", "/c"]),
            ),
            (
                &["/a", "/b"],
                |l| l.set(pack("/b"), Some(1)),
                Err(BuildpackError::Duplicate("/b".into())),
            ),
            (&["/a"], |l| l.set(pack("/a"), Some(1)), Ok(&["/a"])),
            (
                &["/a"],
                |l| l.set(pack("/c"), Some(5)),
                Err(BuildpackError::NoSuchIndex { index: 5, len: 1 }),
            ),
            (&["/a"], |l| l.add(pack("/b"), None), Ok(&["/a", "/b"])),
            (
                &["/a", "/b"],
                |l| l.add(pack("/c"), Some(1)),
                Ok(&["/c", "/a", "/b"]),
            ),
            (
                &["/a"],
                |l| l.add(pack("/a"), None),
                Err(BuildpackError::Duplicate("/a".into())),
            ),
            (
                &["/a"],
                |l| l.add(pack("/b"), Some(0)),
                Err(BuildpackError::NoSuchIndex { index: 0, len: 1 }),
            ),
            (
                &["/a", "/b"],
                |l| l.remove(BuildpackChoice::Index(1)).map(drop),
                Ok(&["/b"]),
            ),
            (
                &["/a", "/b"],
                |l| l.remove(BuildpackChoice::Source(pack("/b"))).map(drop),
                Ok(&["/a"]),
            ),
        ];
        for (start, edit, want) in cases {
            let mut l = list(start);
            let got = edit(&mut l).map(|()| l.urls());
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{start:?}");
        }
        let mut l = list(&["/a"]);
        assert_eq!(
            l.remove(BuildpackChoice::Source(pack("/z"))),
            Err(BuildpackError::NotSet("/z".into()))
        );
        assert_eq!(
            l.remove(BuildpackChoice::Index(2)),
            Err(BuildpackError::NoSuchIndex { index: 2, len: 1 })
        );
        assert_eq!(l.urls(), ["/a"], "a refused edit changes nothing");
    }
}
