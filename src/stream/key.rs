//! `StreamKey { app, name }`: the identity of a live stream (`rtmp://host/{app}/{name}`).

use std::fmt;
use std::sync::Arc;

/// Identity of a live stream. Cheap to clone (two refcounts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    pub app: Arc<str>,
    pub name: Arc<str>,
}

impl StreamKey {
    pub fn new(app: &str, name: &str) -> Self {
        StreamKey {
            app: app.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.name)
    }
}
