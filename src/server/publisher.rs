//! A published stream on its owning core and everything fed from it there: the hub's
//! publication (fan-out to players), the stats entry, HLS output (apps with `hls: true`) and
//! the FLV archive (`flv_archive`) and the app's `static_push` relays. Used by RTMP publishers and by pull relays alike.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use super::archive::Archive;
use super::core::CoreContext;
use super::http::unix_now;
use super::relay;
use crate::stream::hls::HlsOutput;
use crate::stream::hub::Publication;
use crate::stream::registry::AlreadyPublishing;
use crate::stream::stats::{Protocol, Role, StatsGuard};
use crate::stream::{Frame, StreamKey};

pub struct Publisher {
    ctx: Rc<CoreContext>,
    publication: Publication,
    stats: StatsGuard,
    hls: Option<HlsOutput>,
    archive: Option<Archive>,
}

impl Publisher {
    /// Become the owner of `key` (the app is `key.app`); `protocol` and `ends` (the client's
    /// and our addresses) are for the stats.
    pub fn start(
        ctx: &Rc<CoreContext>,
        key: StreamKey,
        protocol: Protocol,
        ends: (SocketAddr, SocketAddr),
    ) -> Result<Publisher, AlreadyPublishing> {
        let publication = ctx.hub.publish(key.clone())?;
        let config = &ctx.shared.config;
        let stats = ctx
            .shared
            .stats
            .register(Role::Publisher, protocol, key.clone(), ends);
        let hls_app = config.app(&key.app).is_some_and(|a| a.hls);
        let session = publication.session();
        let hls = hls_app.then(|| ctx.shared.hls.start(key.clone(), session));
        relay::start_static_pushes(ctx, &key, session);
        let archive = config
            .flv_archive
            .then(|| Archive::start(&config.flv_dir, key, unix_now(), &ctx.archive_gate));
        Ok(Publisher {
            ctx: ctx.clone(),
            publication,
            stats,
            hls,
            archive,
        })
    }

    pub fn send(&mut self, frame: Frame) {
        self.stats.stats.count(frame.kind, frame.body().len());
        if let Some(hls) = &mut self.hls
            && let Some(update) = hls.push(frame.kind.rtmp_type(), frame.ts, &frame.body_bytes())
        {
            self.ctx.hub.publish_hls(update);
        }
        if let Some(archive) = &mut self.archive {
            archive.push(&frame);
        }
        self.publication.send(Arc::new(frame));
    }
}

impl Drop for Publisher {
    /// Ends the HLS session: the last segment goes to every core, and the playlist is removed
    /// once it has lingered (unless `hls_keep_after_end` or a new session keeps it).
    fn drop(&mut self) {
        let Some(hls) = self.hls.take() else {
            return;
        };
        let end = hls.finish();
        if let Some(update) = end.update {
            self.ctx.hub.publish_hls(update);
        }
        let Some(linger) = end.linger else {
            return;
        };
        let (ctx, key, session) = (
            self.ctx.clone(),
            self.publication.key().clone(),
            self.publication.session(),
        );
        glommio::spawn_local(async move {
            glommio::timer::sleep(linger).await;
            if let Some(removal) = ctx.shared.hls.expire(&key, session) {
                ctx.hub.publish_hls(removal);
            }
        })
        .detach();
    }
}
