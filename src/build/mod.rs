//! Source intake and slugs: turning an uploaded tarball into a release's read-only slug.

pub mod intake;
