//! The C2SP tlog-tiles read API on the node's HTTP listener (public, read-only): `GET
//! /checkpoint`, `/tile/<L>/<N>[.p/<W>]` and `/tile/entries/<N>[.p/<W>]`.
//!
//! Paths, widths and what exists at a tree size are proto's ([`herald_proto::tlog_tiles`]); the
//! bytes are the store's ([`LogStore::tile_resource`]), cut to the published tree. Answers:
//! 200 with `Content-Type: application/octet-stream`, full tiles and bundles `Cache-Control:
//! public, max-age=31536000, immutable` (they never change), partial ones a minute (a log may
//! drop them once the full one exists); the checkpoint a couple of seconds (it moves); 404 for
//! what the published tree does not have yet; 400 for a malformed path. The tiles hash with the
//! log's configured hash (`/status` says which): C2SP defines SHA-256, and a BLAKE3 Herald log
//! serves BLAKE3 tiles that only Herald clients told so can check.

use std::borrow::Cow;

use herald_proto::note::SignedNote;
use herald_proto::tlog_tiles::TileId;
use hyper::body::Bytes;
use tracing::warn;

use crate::http::Response;
use crate::store::{LogStore, ReadError};

mod served;

pub use served::{SERVED_BYTES, ServedTiles};

/// `Cache-Control` of full tiles and bundles.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of partial tiles and bundles.
pub const PARTIAL: &str = "public, max-age=60";
/// `Cache-Control` of the checkpoint ("SHOULD prevent caching beyond a few seconds").
pub const CHECKPOINT: &str = "public, max-age=2";

/// Whether `path` is this API's.
pub fn serves(path: &str) -> bool {
    path == "/checkpoint" || path.starts_with("/tile/")
}

/// Answers a GET of `path` from `served` alone, without the store: `Some` when `path` is a
/// full tile or bundle held there. Not blocking: the caller answers with it at once.
pub fn get_served(served: &ServedTiles, path: &str) -> Option<Response> {
    let id = TileId::parse(path.strip_prefix('/')?).ok()?;
    served.get(&id).map(|bytes| tile_answer(&id, bytes))
}

/// Answers a GET of `path` (one [`serves`] took), and leaves a full tile's or bundle's answer
/// in `served`. Blocking: reads the store.
pub fn get(store: &LogStore, served: &ServedTiles, path: &str) -> Response {
    if path == "/checkpoint" {
        return checkpoint(store);
    }
    let Some(relative) = path.strip_prefix('/') else {
        return Response::text(400, "not a tile path\n");
    };
    let id = match TileId::parse(relative) {
        Ok(id) => id,
        Err(e) => return Response::text(400, format!("{e}\n")),
    };
    match store.tile_resource(id) {
        Ok(bytes) => {
            let bytes = Bytes::from(bytes);
            served.insert(&id, bytes.clone());
            tile_answer(&id, bytes)
        }
        Err(ReadError::OutOfRange { .. }) => Response::text(404, "not in the published tree\n"),
        Err(e) => {
            warn!(path, error = %e, "tile read failed");
            Response::text(500, "tile unavailable\n")
        }
    }
}

/// The 200 answer of tile `id` holding `bytes`.
fn tile_answer(id: &TileId, bytes: Bytes) -> Response {
    let cache = if id.is_partial() { PARTIAL } else { IMMUTABLE };
    Response::new(200, "application/octet-stream", bytes).cached(Cow::Borrowed(cache))
}

/// The latest checkpoint: with the witnesses' cosignatures when a quorum cosigned it.
fn checkpoint(store: &LogStore) -> Response {
    let head = store.head();
    if head.checkpoint.is_empty() {
        return Response::text(404, "no checkpoint signed yet\n");
    }
    let cosigned = store.cosigned().ok().flatten().filter(|note| {
        SignedNote::parse(note)
            .ok()
            .and_then(|n| herald_proto::checkpoint::Checkpoint::parse_body(n.text()).ok())
            .is_some_and(|c| c.size == head.size && c.root == head.root)
    });
    let body = cosigned.unwrap_or(head.checkpoint.clone());
    Response::new(200, "text/plain; charset=utf-8", body).cached(Cow::Borrowed(CHECKPOINT))
}
