//! The C2SP tlog-tiles read API of a real node over HTTP, and the light client reading the log
//! through it alone (`TileGateway`, the library behind `herald log --tiles`).

use std::time::Duration;

use crate::network_support::{TestNode, WAIT, notarization};
use herald_light_client::http::{HttpAnswer, HttpClient};
use herald_light_client::{Leaf, LogTrust, MemoryCheckpointStore, TileGateway, TrustedLog};
use herald_node::http::{HttpServer, Response, Routes};
use herald_proto::merkle::{AnyHasher, HASH_LEN, LogHasher as _};
use herald_proto::tlog_tiles::{FULL_TILE_BYTES, bundle_entries, fold_subtree};

/// Entries appended: two full bundles and tiles, and a partial third.
const ENTRIES: u64 = 600;

async fn node_with_entries() -> TestNode {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let intake = node.gateway.intake().clone();
    let submissions = (0..ENTRIES).map(|n| {
        let intake = intake.clone();
        async move { intake.submit(notarization(n)).await }
    });
    let acks = tokio::time::timeout(WAIT, futures::future::join_all(submissions))
        .await
        .expect("acks in time");
    assert!(acks.iter().all(Result::is_ok));
    let started = std::time::Instant::now();
    while node.gateway.head().size < ENTRIES {
        assert!(started.elapsed() < WAIT, "the log did not reach {ENTRIES}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node
}

async fn get(client: &HttpClient, node: &TestNode, path: &str) -> HttpAnswer {
    let url = format!("http://{}{path}", node.gateway.http_addr());
    client.get(&url).await.expect("an answer")
}

fn hashes(bytes: &[u8]) -> Vec<[u8; 32]> {
    bytes
        .chunks_exact(HASH_LEN)
        .map(|c| c.try_into().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_bundles_and_the_checkpoint_are_served_with_their_cache_headers() {
    let node = node_with_entries().await;
    let client = HttpClient::new(WAIT, 1 << 24).unwrap();
    let size = node.gateway.head().size;
    let hasher: AnyHasher = node.gateway.store().hasher();

    let checkpoint = get(&client, &node, "/checkpoint").await;
    assert_eq!(checkpoint.status, 200);
    assert_eq!(
        checkpoint.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        checkpoint.cache_control.as_deref(),
        Some("public, max-age=2")
    );
    let text = String::from_utf8(checkpoint.body).unwrap();
    assert!(text.starts_with("alpha.test/herald\n"), "{text}");

    // Full level-0 tile 0 and full bundle 0: immutable, and the tile holds the bundle's
    // leaf hashes.
    let tile = get(&client, &node, "/tile/0/000").await;
    assert_eq!((tile.status, tile.body.len()), (200, FULL_TILE_BYTES));
    assert_eq!(
        tile.cache_control.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        tile.content_type.as_deref(),
        Some("application/octet-stream")
    );
    let bundle = get(&client, &node, "/tile/entries/000").await;
    assert_eq!(bundle.status, 200);
    assert_eq!(
        bundle.cache_control.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    // Read again, both come from the node's memory of served tiles: the same answer, headers
    // and all.
    assert_eq!(get(&client, &node, "/tile/0/000").await, tile);
    assert_eq!(get(&client, &node, "/tile/entries/000").await, bundle);
    let entries = bundle_entries(&bundle.body, 256).expect("a C2SP entry bundle");
    let leaf_hashes: Vec<_> = entries.iter().map(|e| hasher.hash_leaf(e)).collect();
    assert_eq!(hashes(&tile.body), leaf_hashes);

    // Partial tiles and bundles of the published size: a short max-age.
    let width = size - 512;
    let partial = get(&client, &node, &format!("/tile/0/002.p/{width}")).await;
    assert_eq!(partial.status, 200);
    assert_eq!(partial.body.len(), width as usize * HASH_LEN);
    assert_eq!(partial.cache_control.as_deref(), Some("public, max-age=60"));
    let partial_bundle = get(&client, &node, &format!("/tile/entries/002.p/{width}")).await;
    assert_eq!(partial_bundle.status, 200);
    assert_eq!(
        bundle_entries(&partial_bundle.body, width as usize)
            .unwrap()
            .len(),
        width as usize
    );
    // A narrower prefix of a partial or full tile is served too.
    assert_eq!(get(&client, &node, "/tile/0/002.p/1").await.status, 200);
    assert_eq!(
        get(&client, &node, "/tile/entries/000.p/7").await.status,
        200
    );
    // Level 1: two full level-0 tiles so far; each hash is its tile's subtree root.
    let level1 = get(&client, &node, "/tile/1/000.p/2").await;
    assert_eq!(level1.status, 200);
    let mut leaves = hashes(&tile.body);
    assert_eq!(
        hashes(&level1.body)[0],
        fold_subtree(&hasher, &mut leaves).unwrap()
    );

    // What the published tree does not have yet: 404.
    for path in [
        "/tile/0/002",
        "/tile/entries/002",
        "/tile/0/003.p/1",
        "/tile/1/000",
        "/tile/2/000.p/1",
        "/tile/63/000",
        "/tile/entries/x001/000",
    ] {
        assert_eq!(get(&client, &node, path).await.status, 404, "{path}");
    }
    let too_wide = format!("/tile/0/002.p/{}", width + 1);
    assert_eq!(get(&client, &node, &too_wide).await.status, 404);
    // Malformed paths: 400, never a panic.
    for path in [
        "/tile/",
        "/tile/0/0",
        "/tile/00/000",
        "/tile/64/000",
        "/tile/0/x000/001",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/entries/000.p/",
        "/tile/0/x018/x446/x744/x073/x709/x551/616",
        "/tile/0/000/..",
        "/tile/entries/abc",
    ] {
        assert_eq!(get(&client, &node, path).await.status, 400, "{path}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_light_client_reads_and_proves_the_log_from_tiles_alone() {
    let node = node_with_entries().await;
    let prefix = format!("http://{}/", node.gateway.http_addr());
    let trust = LogTrust::unwitnessed(node.log_key.clone(), node.gateway.store().algorithm());
    let tiles = TileGateway::new(&prefix, trust.algorithm(), WAIT).unwrap();
    let mut log = TrustedLog::open(tiles, trust, MemoryCheckpointStore::default()).unwrap();
    let update = log.refresh().await.unwrap();
    let size = update.checkpoint.size();
    assert!(size >= ENTRIES);
    for index in [0, 255, 256, 300, 511, 512, size - 1] {
        let entry = log.entry(index).await.unwrap();
        assert_eq!(entry.index(), index);
        assert_eq!(entry.entry(), notarization_at(&node, index));
        let proved = log.prove(Leaf::Index(index)).await.unwrap();
        assert_eq!(proved.index(), index);
    }
    for (from, to) in [
        (1, size),
        (255, 512),
        (256, size),
        (300, 513),
        (size - 1, size),
    ] {
        log.consistency(from, Some(to)).await.unwrap();
    }
    // What a tile server cannot answer is refused before anything is sent.
    assert!(log.prove(Leaf::Hash([0; 32])).await.is_err());
    node.stop().await;
}

/// The entry at `index` as the node stores it.
fn notarization_at(node: &TestNode, index: u64) -> Vec<u8> {
    node.gateway.store().entries(index, 1).unwrap().remove(0)
}

/// A tile server in front of the node that flips one bit of tile 0/000.
#[derive(Clone)]
struct Tampering {
    upstream: String,
    client: HttpClient,
}

impl Routes for Tampering {
    async fn get(&self, path: &str) -> Response {
        let answer = self
            .client
            .get(&format!("{}{path}", self.upstream))
            .await
            .unwrap();
        let mut body = answer.body;
        if path == "/tile/0/000" {
            // Leaf 0's hash: the sibling in leaf 1's audit path.
            body[8] ^= 1;
        }
        Response::new(answer.status, "application/octet-stream", body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_tile_server_serving_an_altered_tile_is_refused() {
    let node = node_with_entries().await;
    let tampering = Tampering {
        upstream: format!("http://{}", node.gateway.http_addr()),
        client: HttpClient::new(WAIT, 1 << 24).unwrap(),
    };
    let proxy = HttpServer::bind("127.0.0.1:0".parse().unwrap(), tampering)
        .await
        .unwrap();
    let trust = LogTrust::unwitnessed(node.log_key.clone(), node.gateway.store().algorithm());
    let prefix = format!("http://{}", proxy.local_addr);
    let tiles = TileGateway::new(&prefix, trust.algorithm(), WAIT).unwrap();
    let mut log = TrustedLog::open(tiles, trust, MemoryCheckpointStore::default()).unwrap();
    log.refresh().await.unwrap();
    // Entry 1's audit path starts with the altered hash: it no longer reaches the signed root.
    let refused = log.entry(1).await.unwrap_err();
    assert!(refused.is_peer_misbehaviour(), "{refused}");
    // Entry 300's proof reads the level-1 tile for that subtree, not the altered one.
    log.entry(300).await.unwrap();
    proxy.stop().await;
    node.stop().await;
}
