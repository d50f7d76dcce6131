//! Crash torture (docs/api.md upload and delete rules, Go uploads, listings and version
//! deletes, §5 verify and quotas): a mixed load against the real server, `kill -9` at a random
//! moment, a restart on the same database file, a full check, and the load again, for
//! `DEPOT_TORTURE_KILLS` rounds (default 5).
//!
//! The load runs in *lanes*, one client thread each. A lane owns one generic package, its
//! versions and (for alice's lanes) one Go module, and sends one request at a time, so its model
//! of what the server holds is exact except for the single request in flight when the server
//! died. Contents are shared between lanes on purpose (the same bytes under many names), so
//! deduplicated blobs and their reference counts are exercised across lanes; one lane writes for
//! `bob`, whose storage and version quotas are small, and predicts each 201 or 507 exactly.
//!
//! Each file the model knows is Present(content) or Either(content); a name not in the model is
//! absent. An acknowledged upload makes it Present, an acknowledged delete removes it, and the
//! request that the kill cut off makes its files Either. After the restart every Present file must
//! download byte-exact, every file a delete or refused upload touched must be 404, every Either
//! must be byte-exact or 404 (and then becomes one or the other), and what one request did to
//! several files (a version delete, a Go upload or delete) must have happened to all or none.
//! The management API must list exactly the model (packages, versions with their file counts and
//! sizes, files with size and sha256; a version without files does not exist), `@v/list` the
//! Go versions, `depot quota show` the model's byte and version counts, and `depot verify` must
//! pass: on the crashed file before the restart in even rounds, through the server after the
//! check in odd ones (so both the crash recovery of `serve` and that of the offline open run).
//!
//! The seed is printed first; `DEPOT_TORTURE_SEED=0x… cargo test torture` replays its choices
//! (operations, sizes, kill moments). Thread interleaving still differs from run to run.
//! Long run: `DEPOT_TORTURE_KILLS=200 cargo test --release torture -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fastrand::Rng;

use crate::go::{module_zip, proxy_path, upload_path};
use crate::util::*;

/// Rounds when `DEPOT_TORTURE_KILLS` is not set: enough for CI to see every kill mode.
const DEFAULT_KILLS: usize = 5;
/// The store's chunk size (`CHUNK_SIZE` in src/store/blobs.rs): sizes at and around its multiples
/// are where an off-by-one in chunking or chunk counting would show.
const CHUNK: usize = MIB - 4 * KIB;
/// Upload sizes the lanes draw from, besides random ones.
const SIZES: [usize; 16] = [
    0,
    1,
    2,
    17,
    4095,
    4096,
    4097,
    65_536,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    2 * CHUNK - 1,
    2 * CHUNK,
    2 * CHUNK + 1,
    3 * CHUNK,
    3 * MIB + 5,
];
/// Contents every lane may upload: identical bytes under many names and in many versions.
const SHARED_SEEDS: [u64; 4] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003, 0x5eed_0004];
/// alice's lanes (bob has one more).
const ALICE_LANES: usize = 4;
/// Version names per lane (`1.0` … `5.0`), so versions are emptied, deleted and reused.
const VERSIONS: usize = 5;
/// File names per version (`f0.bin` … ), so deleted names are uploaded again.
const NAMES: usize = 24;
/// Go versions per module (`v1.0.0` …).
const GO_VERSIONS: usize = 6;
/// A lane holding more than this many bytes or files prefers deletes: bounds the database and
/// the time each check takes.
const LANE_BYTES: usize = 8 * MIB;
const LANE_FILES: usize = 16;
/// bob's limits: small enough that his lane hits both often.
const BOB_MAX_BYTES: u64 = 5 * MIB as u64;
const BOB_MAX_VERSIONS: u64 = 3;
/// How long the killer waits for the event its mode needs before it kills anyway.
const EVENT_WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// What a file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Content {
    /// `len` bytes of `Pattern::new(seed)`.
    Pattern { seed: u64, len: usize },
    /// Literal bytes: a Go module zip or its go.mod.
    Bytes(Arc<Vec<u8>>),
}

impl Content {
    fn len(&self) -> usize {
        match self {
            Content::Pattern { len, .. } => *len,
            Content::Bytes(b) => b.len(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Pattern { seed, len } => {
                let mut out = vec![0u8; *len];
                Pattern::new(*seed).fill(&mut out);
                out
            }
            Content::Bytes(b) => b.to_vec(),
        }
    }

    /// Lower-case hex sha256; pattern contents are hashed once per run.
    fn sha256(&self) -> String {
        static CACHE: OnceLock<Mutex<HashMap<(u64, usize), String>>> = OnceLock::new();
        match self {
            Content::Bytes(b) => sha256_hex(b),
            Content::Pattern { seed, len } => {
                let cache = CACHE.get_or_init(Mutex::default);
                if let Some(hex) = cache.lock().unwrap().get(&(*seed, *len)) {
                    return hex.clone();
                }
                let hex = sha256_hex(&self.bytes());
                cache.lock().unwrap().insert((*seed, *len), hex.clone());
                hex
            }
        }
    }

    /// `None` when `body` is exactly this content, else what differs.
    fn mismatch(&self, body: &[u8]) -> Option<String> {
        let want = self.bytes();
        if body == want.as_slice() {
            return None;
        }
        let at = body.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(body.len().min(want.len()));
        Some(format!(
            "{} bytes where {} were expected, first difference at byte {at}",
            body.len(),
            want.len()
        ))
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Pattern { seed, len } => write!(f, "{len} bytes of pattern {seed:#x}"),
            Content::Bytes(b) => write!(f, "{} literal bytes", b.len()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Generic,
    Go,
}

impl Kind {
    fn api(self) -> &'static str {
        match self {
            Kind::Generic => "generic",
            Kind::Go => "go",
        }
    }
}

/// One file: for Go, `package` is the module path and `file` is `vX.Y.Z.zip` or `.mod`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    kind: Kind,
    package: String,
    version: String,
    file: String,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}/{}", self.kind.api(), self.package, self.version, self.file)
    }
}

/// A file the model knows (a name it does not know is absent).
#[derive(Clone, Debug)]
enum Slot {
    /// Acknowledged: must download byte-exact.
    Present(Content),
    /// Its request was cut off by the kill: byte-exact or absent, never anything else.
    Either(Content),
}

/// Counters for the summary line.
#[derive(Clone, Debug, Default)]
struct Stats {
    acked_uploads: usize,
    acked_go_uploads: usize,
    quota_refusals: usize,
    acked_file_deletes: usize,
    acked_version_deletes: usize,
    load_reads: usize,
    /// Requests cut off by a kill, and how many of those had taken effect.
    in_flight: usize,
    in_flight_landed: usize,
    /// Cut-off requests by kind.
    cut: BTreeMap<&'static str, usize>,
    /// Acknowledged files found byte-exact after a restart (one per file per round).
    present_checked: usize,
    /// Deleted or refused names found absent after a restart.
    absent_checked: usize,
    listings_checked: usize,
    verifies: usize,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.acked_uploads += o.acked_uploads;
        self.acked_go_uploads += o.acked_go_uploads;
        self.quota_refusals += o.quota_refusals;
        self.acked_file_deletes += o.acked_file_deletes;
        self.acked_version_deletes += o.acked_version_deletes;
        self.load_reads += o.load_reads;
        self.in_flight += o.in_flight;
        self.in_flight_landed += o.in_flight_landed;
        for (what, n) in &o.cut {
            *self.cut.entry(what).or_default() += n;
        }
        self.present_checked += o.present_checked;
        self.absent_checked += o.absent_checked;
        self.listings_checked += o.listings_checked;
        self.verifies += o.verifies;
    }
}

/// One client thread's name space and its model of it.
struct Lane {
    id: usize,
    owner: &'static str,
    cred: Cred,
    package: String,
    /// alice's lanes also publish one Go module.
    module: Option<String>,
    /// `(max bytes, max versions)` of the owner, when this lane is its only writer.
    quota: Option<(u64, u64)>,
    slots: BTreeMap<Key, Slot>,
    /// Files one cut-off request affected together: all present or all absent afterwards.
    groups: Vec<Vec<Key>>,
    /// Names an acknowledged delete or a refused upload left absent this round (checked 404).
    gone: BTreeSet<Key>,
    stats: Stats,
}

/// Why a request did not give the expected answer.
enum Fault {
    /// The connection failed: expected once the server is killed, a failure before.
    Io(io::Error),
    /// A wrong answer: always a failure.
    Wrong(String),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Fault {
        Fault::Io(e)
    }
}

fn wrong<T>(msg: String) -> Result<T, Fault> {
    Err(Fault::Wrong(msg))
}

/// Sends `req` and reads the answer, calling `sent` once the request is written (the killer
/// may be waiting for that moment).
fn send_then(addr: SocketAddr, req: &Request, sent: impl FnOnce()) -> io::Result<Response> {
    let mut stream = connect(addr)?;
    let written = stream.write_all(&req.encode(&addr.to_string()));
    sent();
    match read_response(&mut stream, req.method == "HEAD", req.describe()) {
        Ok(resp) => Ok(resp),
        Err(e) => Err(written.err().unwrap_or(e)),
    }
}

fn get(addr: SocketAddr, target: &str, cred: &Cred) -> Result<Response, Fault> {
    Ok(send_to(addr, &Request::get(target).auth(cred))?)
}

impl Lane {
    fn new(id: usize, owner: &'static str, cred: Cred, quota: Option<(u64, u64)>) -> Lane {
        Lane {
            id,
            owner,
            cred,
            package: format!("p{id}"),
            module: quota.is_none().then(|| format!("example.com/torture/m{id}")),
            quota,
            slots: BTreeMap::new(),
            groups: Vec::new(),
            gone: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    fn generic_key(&self, version: &str, file: &str) -> Key {
        Key { kind: Kind::Generic, package: self.package.clone(), version: version.into(), file: file.into() }
    }

    fn go_keys(&self, version: &str) -> [Key; 2] {
        let module = self.module.clone().expect("a Go lane");
        [
            Key {
                kind: Kind::Go,
                package: module.clone(),
                version: version.into(),
                file: format!("{version}.zip"),
            },
            Key { kind: Kind::Go, package: module, version: version.into(), file: format!("{version}.mod") },
        ]
    }

    /// The URL a file downloads from.
    fn url(&self, key: &Key) -> String {
        match key.kind {
            Kind::Generic => file_path(self.owner, &key.package, &key.version, &key.file),
            Kind::Go => proxy_path(self.owner, &key.package, &format!("@v/{}", key.file)),
        }
    }

    fn present(&self) -> impl Iterator<Item = (&Key, &Content)> {
        self.slots.iter().filter_map(|(k, s)| match s {
            Slot::Present(c) => Some((k, c)),
            Slot::Either(_) => None,
        })
    }

    /// Present files by version: `(kind, package) -> version -> file -> content`.
    fn tree(&self) -> BTreeMap<(Kind, String), BTreeMap<String, BTreeMap<String, Content>>> {
        let mut tree: BTreeMap<_, BTreeMap<_, BTreeMap<_, _>>> = BTreeMap::new();
        for (k, c) in self.present() {
            tree.entry((k.kind, k.package.clone()))
                .or_default()
                .entry(k.version.clone())
                .or_default()
                .insert(k.file.clone(), c.clone());
        }
        tree
    }

    /// `(bytes, versions)` the owner's usage must count for this lane.
    fn usage(&self) -> (u64, u64) {
        let tree = self.tree();
        let bytes = self.present().map(|(_, c)| c.len() as u64).sum();
        (bytes, tree.values().map(|versions| versions.len() as u64).sum())
    }

    fn generic_versions(&self) -> BTreeSet<String> {
        self.present().filter(|(k, _)| k.kind == Kind::Generic).map(|(k, _)| k.version.clone()).collect()
    }

    fn go_versions(&self) -> BTreeSet<String> {
        self.present().filter(|(k, _)| k.kind == Kind::Go).map(|(k, _)| k.version.clone()).collect()
    }

    /// A uniformly chosen present file of `kind` (any kind for `None`).
    fn pick_present(&self, rng: &mut Rng, kind: Option<Kind>) -> Option<(Key, Content)> {
        let all: Vec<_> = self.present().filter(|(k, _)| kind.is_none_or(|want| k.kind == want)).collect();
        if all.is_empty() {
            return None;
        }
        let (k, c) = all[rng.usize(..all.len())];
        Some((k.clone(), c.clone()))
    }

    // ---- the load ----

    /// Runs operations until the server is killed (then returns `Ok`) or an answer is wrong.
    fn run(&mut self, ctx: &Round, mut rng: Rng) -> Result<(), String> {
        while !ctx.killed.load(Ordering::SeqCst) {
            // Lane 0 starts a big upload when the killer asks for one.
            let forced = self.id == 0 && ctx.want_big.swap(false, Ordering::SeqCst);
            let op = if forced { Op::Upload { big: true } } else { self.choose(&mut rng) };
            match self.apply(op, ctx, &mut rng) {
                Ok(()) => {
                    if op.writes() {
                        let _ = ctx.events.send(Event::Acked);
                    }
                }
                Err(Fault::Io(e)) => {
                    if ctx.killed.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    return Err(format!("lane {} {op:?}: I/O error before the kill: {e}", self.id));
                }
                Err(Fault::Wrong(msg)) => return Err(format!("lane {} {op:?}: {msg}", self.id)),
            }
        }
        Ok(())
    }

    fn choose(&self, rng: &mut Rng) -> Op {
        let (bytes, _) = self.usage();
        let files = self.present().count();
        let go = self.module.is_some();
        let r = rng.usize(..100);
        if bytes as usize > LANE_BYTES || files > LANE_FILES {
            return match r {
                0..=59 => Op::DeleteFile,
                60..=74 => Op::DeleteVersion,
                75..=84 if go => Op::GoDelete,
                _ => Op::Download,
            };
        }
        match r {
            0..=39 => Op::Upload { big: go && (rng.usize(..100) < 4) },
            40..=51 => Op::DeleteFile,
            52..=56 => Op::DeleteVersion,
            57..=72 => Op::Download,
            73..=77 => Op::Head,
            78..=81 => Op::ProbeGone,
            82..=86 => Op::List,
            87..=92 if go => Op::GoUpload,
            93..=96 if go => Op::GoDelete,
            97..=99 if go => Op::GoList,
            _ => Op::Upload { big: false },
        }
    }

    fn apply(&mut self, op: Op, ctx: &Round, rng: &mut Rng) -> Result<(), Fault> {
        match op {
            Op::Upload { big } => self.upload(ctx, rng, big),
            Op::DeleteFile => self.delete_file(ctx, rng),
            Op::DeleteVersion => self.delete_version(ctx, rng),
            Op::Download | Op::Head => self.read(ctx, rng, op == Op::Head),
            Op::ProbeGone => self.probe_gone(ctx, rng),
            Op::List => {
                self.stats.load_reads += 1;
                self.check_listing(ctx.addr, Kind::Generic)
            }
            Op::GoUpload => self.go_upload(ctx, rng),
            Op::GoDelete => self.go_delete(ctx, rng),
            Op::GoList => {
                self.stats.load_reads += 1;
                self.check_go_list(ctx.addr)
            }
        }
    }

    fn upload(&mut self, ctx: &Round, rng: &mut Rng, big: bool) -> Result<(), Fault> {
        let version = format!("{}.0", 1 + rng.usize(..VERSIONS));
        let free: Vec<String> = (0..NAMES)
            .map(|n| format!("f{n}.bin"))
            .filter(|f| !self.slots.contains_key(&self.generic_key(&version, f)))
            .collect();
        if free.is_empty() {
            return self.delete_version(ctx, rng);
        }
        let key = self.generic_key(&version, free[rng.usize(..free.len())].as_str());
        let len = if big {
            // Several MiB, sometimes an exact number of chunks.
            if rng.usize(..100) < 30 {
                CHUNK * (4 + rng.usize(..4))
            } else {
                4 * MIB + rng.usize(..4 * MIB)
            }
        } else {
            match rng.usize(..10) {
                0..=5 => SIZES[rng.usize(..SIZES.len())],
                6..=8 => rng.usize(..256 * KIB),
                _ => rng.usize(..3 * MIB),
            }
        };
        let seed =
            if rng.usize(..100) < 35 { SHARED_SEEDS[rng.usize(..SHARED_SEEDS.len())] } else { rng.u64(..) };
        let content = Content::Pattern { seed, len };
        let (bytes, versions) = self.usage();
        let new_version = !self.generic_versions().contains(&version);
        let expected = match self.quota {
            Some((max_bytes, max_versions))
                if bytes + len as u64 > max_bytes || (new_version && versions + 1 > max_versions) =>
            {
                507
            }
            _ => 201,
        };
        let mut headers: Vec<(&str, String)> = Vec::new();
        match rng.usize(..10) {
            0 => headers.push(("X-Checksum-Sha256", content.sha256())),
            1 => headers.push(("Content-Digest", format!("sha-256=:{}:", hex_to_base64(&content.sha256())))),
            _ => {}
        }
        let target = self.url(&key);
        // From here on the upload may have landed whatever the client sees.
        self.slots.insert(key.clone(), Slot::Either(content.clone()));
        let answer = if big {
            let extra: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            put_streamed(ctx.addr, &target, &self.cred, seed, len, &extra, || {
                let _ = ctx.events.send(Event::BigUploadUnderway);
            })
        } else {
            let mut req = Request::put(&target, &content.bytes()).auth(&self.cred);
            for (name, value) in &headers {
                req = req.header(name, value);
            }
            send_to(ctx.addr, &req)
        };
        let resp = self.settle(answer, if big { "big upload" } else { "upload" })?;
        if resp.status != expected {
            return wrong(format!("upload of {content} to {key}: expected {expected} (model usage {bytes} bytes, {versions} versions)\n{resp}"));
        }
        if expected == 201 {
            self.slots.insert(key, Slot::Present(content));
            self.stats.acked_uploads += 1;
        } else {
            self.slots.remove(&key);
            self.gone.insert(key);
            self.stats.quota_refusals += 1;
        }
        Ok(())
    }

    fn delete_file(&mut self, ctx: &Round, rng: &mut Rng) -> Result<(), Fault> {
        let Some((key, content)) = self.pick_present(rng, Some(Kind::Generic)) else {
            return self.upload(ctx, rng, false);
        };
        let req = Request::delete(&self.url(&key)).auth(&self.cred);
        self.slots.insert(key.clone(), Slot::Either(content));
        let answer = send_then(ctx.addr, &req, || {
            let _ = ctx.events.send(Event::DeleteSent);
        });
        let resp = self.settle(answer, "file delete")?;
        if resp.status != 204 {
            return wrong(format!("delete of present {key}: expected 204\n{resp}"));
        }
        self.slots.remove(&key);
        self.gone.insert(key);
        self.stats.acked_file_deletes += 1;
        Ok(())
    }

    fn delete_version(&mut self, ctx: &Round, rng: &mut Rng) -> Result<(), Fault> {
        let versions: Vec<String> = self.generic_versions().into_iter().collect();
        if versions.is_empty() {
            return self.upload(ctx, rng, false);
        }
        let version = &versions[rng.usize(..versions.len())].clone();
        let target = api_version_path(self.owner, &self.package, Some(version));
        self.version_request(ctx, Kind::Generic, version, &target)
    }

    /// `DELETE` of a whole version through the management API; all its files go together.
    fn version_request(&mut self, ctx: &Round, kind: Kind, version: &str, target: &str) -> Result<(), Fault> {
        let keys: Vec<Key> = self
            .present()
            .filter(|(k, _)| k.kind == kind && k.version == version)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            if let Some(Slot::Present(c)) = self.slots.get(k).cloned() {
                self.slots.insert(k.clone(), Slot::Either(c));
            }
        }
        self.groups.push(keys.clone());
        let req = Request::delete(target).auth(&self.cred);
        let answer = send_then(ctx.addr, &req, || {
            let _ = ctx.events.send(Event::DeleteSent);
        });
        let resp =
            self.settle(answer, if kind == Kind::Go { "Go version delete" } else { "version delete" })?;
        self.groups.pop();
        if resp.status != 204 {
            return wrong(format!(
                "delete of {} version {version} holding {} files: expected 204\n{resp}",
                kind.api(),
                keys.len()
            ));
        }
        for k in keys {
            self.slots.remove(&k);
            self.gone.insert(k);
        }
        self.stats.acked_version_deletes += 1;
        Ok(())
    }

    fn read(&mut self, ctx: &Round, rng: &mut Rng, head: bool) -> Result<(), Fault> {
        let kind = (head || (rng.usize(..100) < 50)).then_some(Kind::Generic);
        let Some((key, content)) = self.pick_present(rng, kind) else {
            return self.upload(ctx, rng, false);
        };
        self.stats.load_reads += 1;
        let target = self.url(&key);
        if head && key.kind == Kind::Generic {
            let resp = send_to(ctx.addr, &Request::head(&target).auth(&self.cred))?;
            let len = content.len().to_string();
            let sha = content.sha256();
            if resp.status != 200
                || resp.header("Content-Length") != Some(len.as_str())
                || resp.header("X-Checksum-Sha256") != Some(sha.as_str())
                || !resp.body.is_empty()
            {
                return wrong(format!(
                    "HEAD {key} ({content}, sha256 {sha}): expected 200 with its length and sha256\n{resp}"
                ));
            }
            return Ok(());
        }
        let resp = get(ctx.addr, &target, &self.cred)?;
        if resp.status != 200 {
            return wrong(format!("download of acknowledged {key} ({content}): expected 200\n{resp}"));
        }
        if let Some(diff) = content.mismatch(&resp.body) {
            return wrong(format!("download of {key} ({content}): {diff}"));
        }
        Ok(())
    }

    /// A name an acknowledged delete removed this round stays absent while the server runs.
    fn probe_gone(&mut self, ctx: &Round, rng: &mut Rng) -> Result<(), Fault> {
        let gone: Vec<Key> = self.gone.iter().filter(|k| !self.slots.contains_key(k)).cloned().collect();
        if gone.is_empty() {
            return self.read(ctx, rng, false);
        }
        let key = &gone[rng.usize(..gone.len())].clone();
        self.stats.load_reads += 1;
        let resp = get(ctx.addr, &self.url(key), &self.cred)?;
        if resp.status != 404 {
            return wrong(format!(
                "{key} was deleted (or refused) with an acknowledgement, yet it answers\n{resp}"
            ));
        }
        Ok(())
    }

    fn go_upload(&mut self, ctx: &Round, rng: &mut Rng) -> Result<(), Fault> {
        let module = self.module.clone().expect("a Go lane");
        let present = self.go_versions();
        let free: Vec<String> =
            (0..GO_VERSIONS).map(|n| format!("v1.{n}.0")).filter(|v| !present.contains(v)).collect();
        if free.is_empty() {
            return self.go_delete(ctx, rng);
        }
        let version = &free[rng.usize(..free.len())].clone();
        let go_mod = format!("module {module}\n\ngo 1.21\n");
        let code = format!("package m\n\nconst Version = \"{version}\"\n");
        let mut payload = vec![0u8; rng.usize(..400 * KIB)];
        Pattern::new(rng.u64(..)).fill(&mut payload);
        let zip = module_zip(
            &module,
            version,
            &[("go.mod", go_mod.as_bytes()), ("m.go", code.as_bytes()), ("data.bin", &payload)],
        );
        let [zip_key, mod_key] = self.go_keys(version);
        let zip = Content::Bytes(Arc::new(zip));
        let go_mod = Content::Bytes(Arc::new(go_mod.into_bytes()));
        self.slots.insert(zip_key.clone(), Slot::Either(zip.clone()));
        self.slots.insert(mod_key.clone(), Slot::Either(go_mod.clone()));
        self.groups.push(vec![zip_key.clone(), mod_key.clone()]);
        let req = Request::put(&upload_path(self.owner), &zip.bytes()).auth(&self.cred);
        let resp = self.settle(send_to(ctx.addr, &req), "Go upload")?;
        self.groups.pop();
        if resp.status != 201 {
            return wrong(format!("Go upload of {module}@{version} ({zip}): expected 201\n{resp}"));
        }
        self.slots.insert(zip_key, Slot::Present(zip));
        self.slots.insert(mod_key, Slot::Present(go_mod));
        self.stats.acked_go_uploads += 1;
        Ok(())
    }

    fn go_delete(&mut self, ctx: &Round, rng: &mut Rng) -> Result<(), Fault> {
        let versions: Vec<String> = self.go_versions().into_iter().collect();
        if versions.is_empty() {
            return self.go_upload(ctx, rng);
        }
        let version = &versions[rng.usize(..versions.len())].clone();
        let module = self.module.clone().expect("a Go lane");
        let target = format!("/api/v1/packages/{}/go/{}/{}", self.owner, enc(&module), version);
        self.version_request(ctx, Kind::Go, version, &target)
    }

    /// After a connection failure (the kill, if `run` finds the flag set) the request's files
    /// stay Either and its group stays open for the check; an answer goes back to the caller.
    fn settle(&mut self, answer: io::Result<Response>, what: &'static str) -> Result<Response, Fault> {
        match answer {
            Ok(resp) => Ok(resp),
            Err(e) => {
                self.stats.in_flight += 1;
                *self.stats.cut.entry(what).or_default() += 1;
                Err(Fault::Io(e))
            }
        }
    }

    // ---- the check, with no request in flight ----

    /// Resolves every Either against what the restarted server serves and checks every
    /// Present and gone file, each group's all-or-nothing, and the listings.
    fn check(&mut self, addr: SocketAddr) -> Result<(), String> {
        let keys: Vec<Key> = self.slots.keys().cloned().collect();
        let mut was_either = BTreeSet::new();
        for key in keys {
            let resp = get(addr, &self.url(&key), &self.cred).map_err(|e| self.fault(e))?;
            match self.slots[&key].clone() {
                Slot::Present(content) => {
                    if resp.status != 200 {
                        return Err(format!("acknowledged {key} ({content}) was lost\n{resp}"));
                    }
                    if let Some(diff) = content.mismatch(&resp.body) {
                        return Err(format!("acknowledged {key} ({content}) changed: {diff}"));
                    }
                    self.stats.present_checked += 1;
                }
                Slot::Either(content) => {
                    was_either.insert(key.clone());
                    match resp.status {
                        404 => {
                            self.slots.remove(&key);
                        }
                        200 => {
                            if let Some(diff) = content.mismatch(&resp.body) {
                                return Err(format!(
                                    "{key}, cut off by the kill, is partial or wrong ({content}): {diff}"
                                ));
                            }
                            self.slots.insert(key, Slot::Present(content));
                        }
                        _ => {
                            return Err(format!(
                                "{key}, cut off by the kill, is neither absent nor complete\n{resp}"
                            ))
                        }
                    }
                }
            }
        }
        if !was_either.is_empty() {
            // One request in flight per lane: whether it took effect is the same for all its files.
            if was_either.iter().any(|k| self.slots.contains_key(k)) {
                self.stats.in_flight_landed += 1;
            }
        }
        for group in std::mem::take(&mut self.groups) {
            let kept: Vec<&Key> = group.iter().filter(|k| self.slots.contains_key(*k)).collect();
            if !kept.is_empty() && kept.len() != group.len() {
                return Err(format!(
                    "a request cut off by the kill took effect on part of its files only: {} of {:?} remain",
                    kept.len(),
                    group.iter().map(|k| k.to_string()).collect::<Vec<_>>()
                ));
            }
        }
        for key in std::mem::take(&mut self.gone) {
            if self.slots.contains_key(&key) {
                continue;
            }
            let resp = get(addr, &self.url(&key), &self.cred).map_err(|e| self.fault(e))?;
            if resp.status != 404 {
                return Err(format!("{key} was deleted (or refused) with an acknowledgement before the kill, yet it answers\n{resp}"));
            }
            self.stats.absent_checked += 1;
        }
        self.check_listing(addr, Kind::Generic).map_err(|e| self.fault(e))?;
        if self.module.is_some() {
            self.check_listing(addr, Kind::Go).map_err(|e| self.fault(e))?;
            self.check_go_list(addr).map_err(|e| self.fault(e))?;
        }
        Ok(())
    }

    fn fault(&self, f: Fault) -> String {
        match f {
            Fault::Io(e) => format!("lane {}: request to the restarted server failed: {e}", self.id),
            Fault::Wrong(msg) => format!("lane {}: {msg}", self.id),
        }
    }

    /// The management API lists exactly the model's versions of this lane's `kind` package
    /// (with file counts and sizes), each with exactly its files (size and sha256), and a
    /// version name with no file does not exist.
    fn check_listing(&mut self, addr: SocketAddr, kind: Kind) -> Result<(), Fault> {
        let package = match kind {
            Kind::Generic => self.package.clone(),
            Kind::Go => self.module.clone().expect("a Go lane"),
        };
        let tree = self.tree().remove(&(kind, package.clone())).unwrap_or_default();
        let base = format!("/api/v1/packages/{}/{}/{}", self.owner, kind.api(), enc(&package));
        let resp = get(addr, &base, &self.cred)?;
        let listed = listed_versions(&resp).or_else(wrong)?;
        let expected: BTreeMap<String, (u64, u64)> = tree
            .iter()
            .map(|(v, files)| (v.clone(), (files.len() as u64, files.values().map(|c| c.len() as u64).sum())))
            .collect();
        let expected = (!expected.is_empty()).then_some(expected);
        if listed != expected {
            return wrong(format!(
                "versions of {} {package}: listed (file count, size) {listed:?}, expected {expected:?}\n{resp}",
                kind.api()
            ));
        }
        let names: Vec<String> = match kind {
            Kind::Generic => (1..=VERSIONS).map(|n| format!("{n}.0")).collect(),
            Kind::Go => (0..GO_VERSIONS).map(|n| format!("v1.{n}.0")).collect(),
        };
        for version in names {
            let resp = get(addr, &api_files_path(self.owner, kind.api(), &package, &version), &self.cred)?;
            let listed = listed_files(&resp).or_else(wrong)?;
            let expected = tree.get(&version).map(|files| {
                files
                    .iter()
                    .map(|(f, c)| (f.clone(), (c.len() as u64, c.sha256())))
                    .collect::<BTreeMap<_, _>>()
            });
            if listed != expected {
                return wrong(format!(
                    "files of {} {package} {version}: listed (size, sha256) {listed:?}, expected {expected:?}\n{resp}",
                    kind.api()
                ));
            }
        }
        self.stats.listings_checked += 1;
        Ok(())
    }

    /// `@v/list` names exactly the model's Go versions, in semantic-version order.
    fn check_go_list(&mut self, addr: SocketAddr) -> Result<(), Fault> {
        let module = self.module.clone().expect("a Go lane");
        let mut versions: Vec<String> = self.go_versions().into_iter().collect();
        versions.sort_by_key(|v| v[3..v.len() - 2].parse::<u32>().unwrap_or(u32::MAX));
        let resp = get(addr, &proxy_path(self.owner, &module, "@v/list"), &self.cred)?;
        let ok = if versions.is_empty() {
            resp.status == 404 || (resp.status == 200 && resp.body.is_empty())
        } else {
            resp.status == 200 && resp.text() == versions.iter().map(|v| format!("{v}\n")).collect::<String>()
        };
        if !ok {
            return wrong(format!("@v/list of {module}: expected {versions:?}\n{resp}"));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Upload { big: bool },
    DeleteFile,
    DeleteVersion,
    Download,
    Head,
    ProbeGone,
    List,
    GoUpload,
    GoDelete,
    GoList,
}

impl Op {
    /// Whether the operation (usually) changes what the server holds.
    fn writes(self) -> bool {
        matches!(self, Op::Upload { .. } | Op::DeleteFile | Op::DeleteVersion | Op::GoUpload | Op::GoDelete)
    }
}

/// `PUT target` with `len` bytes of `Pattern::new(seed)` streamed; `underway` is called once
/// half the body is written.
fn put_streamed(
    addr: SocketAddr,
    target: &str,
    cred: &Cred,
    seed: u64,
    len: usize,
    extra: &[(&str, &str)],
    underway: impl FnOnce(),
) -> io::Result<Response> {
    let mut stream = begin_put(addr, target, cred, len, extra)?;
    let mut pattern = Pattern::new(seed);
    let written = write_pattern(&mut stream, &mut pattern, len / 2).and_then(|()| {
        underway();
        write_pattern(&mut stream, &mut pattern, len - len / 2)
    });
    let desc = format!("PUT {target} [streamed body: {len} bytes of pattern {seed:#x}]");
    match read_response(&mut stream, false, desc) {
        Ok(resp) => Ok(resp),
        Err(e) => Err(written.err().unwrap_or(e)),
    }
}

fn hex_to_base64(hex: &str) -> String {
    let raw: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    base64(&raw)
}

// ---------------------------------------------------------------------------------------------
// Rounds
// ---------------------------------------------------------------------------------------------

/// When the killer strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// After a random delay.
    Delay,
    /// Shortly after half of a multi-MiB upload body was written.
    BigUpload,
    /// Right after a file or version DELETE was written, before its answer.
    Delete,
}

enum Event {
    /// A lane finished a write (an upload or delete answered as the model predicted).
    Acked,
    BigUploadUnderway,
    DeleteSent,
    /// A lane stopped on a wrong answer: kill now, the round has failed.
    Failed,
}

/// What the lanes of one round share.
struct Round {
    addr: SocketAddr,
    mode: Mode,
    /// The killer asks lane 0 for a big upload (in [`Mode::BigUpload`] rounds, after the warm-up).
    want_big: AtomicBool,
    /// Set just before the SIGKILL: a connection error after it is the kill, before it a failure.
    killed: AtomicBool,
    events: mpsc::Sender<Event>,
}

/// Waits for `acks` acknowledged writes, then (for a `mode` that has one) asks for a big upload
/// and waits for the event the mode needs. False if a lane failed or the wait ran out.
fn wait_for(rx: &mpsc::Receiver<Event>, ctx: &Round, mut acks: usize) -> bool {
    let deadline = Instant::now() + EVENT_WAIT;
    let mut armed = false;
    loop {
        if acks == 0 && !armed {
            match ctx.mode {
                Mode::Delay => return true,
                Mode::BigUpload => ctx.want_big.store(true, Ordering::SeqCst),
                Mode::Delete => {}
            }
            armed = true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Failed) | Err(_) => return false,
            Ok(Event::Acked) => acks = acks.saturating_sub(1),
            Ok(Event::BigUploadUnderway) if armed && ctx.mode == Mode::BigUpload => return true,
            Ok(Event::DeleteSent) if armed && ctx.mode == Mode::Delete => return true,
            Ok(_) => {}
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number")))
}

/// The last lines of a log, for failure messages.
fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The `BYTES` and `VERSIONS` fields of `depot quota show OWNER`.
fn usage_of(srv: &TestServer, owner: &str) -> (u64, u64) {
    let out = srv.cli(&["quota", "show", owner], None);
    out.expect_ok();
    let line = out.stdout();
    let fields: Vec<&str> = line.trim().split('\t').collect();
    match (fields.get(1).and_then(|f| f.parse().ok()), fields.get(3).and_then(|f| f.parse().ok())) {
        (Some(bytes), Some(versions)) if fields.len() == 5 && fields[0] == owner => (bytes, versions),
        _ => panic!("unexpected quota show output\n{out}"),
    }
}

#[test]
fn kill_9_at_random_moments_under_mixed_load_keeps_every_invariant() {
    let kills = env_number("DEPOT_TORTURE_KILLS").map_or(DEFAULT_KILLS, |n| n as usize);
    let seed = env_number("DEPOT_TORTURE_SEED").unwrap_or_else(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
    });
    eprintln!("torture: seed {seed:#x}, {kills} kills (replay: DEPOT_TORTURE_SEED={seed:#x} DEPOT_TORTURE_KILLS={kills})");
    let started = Instant::now();

    let mut srv = TestServer::start();
    srv.add_user("alice", "alice-password", false);
    srv.add_user("bob", "bob-password", false);
    srv.cli(
        &[
            "quota",
            "set",
            "bob",
            "--max-bytes",
            &BOB_MAX_BYTES.to_string(),
            "--max-versions",
            &BOB_MAX_VERSIONS.to_string(),
        ],
        None,
    )
    .expect_ok();
    let alice = Cred::token(&srv.token("alice", "write"));
    let bob = Cred::token(&srv.token("bob", "write"));
    let mut lanes: Vec<Lane> =
        (0..ALICE_LANES).map(|id| Lane::new(id, "alice", alice.clone(), None)).collect();
    lanes.push(Lane::new(ALICE_LANES, "bob", bob, Some((BOB_MAX_BYTES, BOB_MAX_VERSIONS))));

    let mut rng = Rng::with_seed(seed);
    let mut stats = Stats::default();
    let mut modes: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..kills {
        let context = |what: &str| format!("torture seed {seed:#x}, round {}/{kills}: {what}", round + 1);
        // Each mode in turn for the first rounds, so a short run sees them all; random after.
        let pick = if round < 3 { round } else { rng.usize(..4) };
        let mode = match pick {
            0 | 3 => Mode::Delay,
            1 => Mode::BigUpload,
            _ => Mode::Delete,
        };
        let delay = Duration::from_millis(match rng.usize(..10) {
            0..=2 => rng.usize(..100),
            3..=7 => 100 + rng.usize(..900),
            _ => 1000 + rng.usize(..2000),
        } as u64);
        // Writes acknowledged before a big-upload or delete kill is armed, and how long the
        // killer waits after the event.
        let warmup = rng.usize(..40);
        let after_event = Duration::from_micros(rng.usize(..5000) as u64);
        let lane_seeds: Vec<u64> = lanes.iter().map(|_| rng.u64(..)).collect();

        let (tx, rx) = mpsc::channel();
        let ctx = Arc::new(Round {
            addr: srv.addr(),
            mode,
            want_big: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            events: tx,
        });
        let load_started = Instant::now();
        let handles: Vec<_> = lanes
            .drain(..)
            .zip(lane_seeds)
            .map(|(mut lane, lane_seed)| {
                let ctx = Arc::clone(&ctx);
                thread::spawn(move || {
                    let result = lane.run(&ctx, Rng::with_seed(lane_seed));
                    if result.is_err() {
                        let _ = ctx.events.send(Event::Failed);
                    }
                    (lane, result)
                })
            })
            .collect();
        let waited = match mode {
            Mode::Delay => {
                thread::sleep(delay);
                true
            }
            Mode::BigUpload => {
                let seen = wait_for(&rx, &ctx, warmup);
                // Up to 50 ms more: the rest of the body is on its way.
                thread::sleep(after_event * 10);
                seen
            }
            Mode::Delete => {
                let seen = wait_for(&rx, &ctx, warmup);
                // Now (the server may not have read it yet) or up to 4 ms later (mid-transaction).
                thread::sleep(after_event);
                seen
            }
        };
        ctx.killed.store(true, Ordering::SeqCst);
        srv.kill9();
        let load_time = load_started.elapsed();
        let mut failures = Vec::new();
        for handle in handles {
            let (lane, result) = handle.join().expect("a lane thread panicked");
            if let Err(e) = result {
                failures.push(e);
            }
            lanes.push(lane);
        }
        if !failures.is_empty() {
            panic!(
                "{}\n--- server log (tail) ---\n{}",
                context(&failures.join("\n\n")),
                tail(&srv.log(), 40)
            );
        }
        let mode_name = match (mode, waited) {
            (Mode::Delay, _) => "after a delay",
            (Mode::BigUpload, true) => "during a big upload",
            (Mode::Delete, true) => "during a delete",
            (_, false) => "after the event wait ran out",
        };
        *modes.entry(mode_name).or_default() += 1;

        let offline = round % 2 == 0;
        if offline {
            let out = srv.cli(&["verify"], None);
            if out.code() != Some(0) {
                panic!("{}\n{out}", context("depot verify on the crashed database file failed"));
            }
            stats.verifies += 1;
        }
        srv.restart();
        for lane in &mut lanes {
            if let Err(e) = lane.check(srv.addr()) {
                panic!("{}\n--- server log (tail) ---\n{}", context(&e), tail(&srv.log(), 40));
            }
        }
        // Packages of each owner and kind: exactly those with a present version.
        for owner in ["alice", "bob"] {
            for kind in [Kind::Generic, Kind::Go] {
                let mut expected: BTreeMap<String, u64> = BTreeMap::new();
                for lane in lanes.iter().filter(|l| l.owner == owner) {
                    for ((k, package), versions) in lane.tree() {
                        if k == kind {
                            expected.insert(package, versions.len() as u64);
                        }
                    }
                }
                let target = format!("/api/v1/packages/{owner}?type={}&limit=1000", kind.api());
                let resp = srv.send(Request::get(&target).auth(&lanes[0].cred));
                let listed =
                    listed_packages(&resp).unwrap_or_else(|e| panic!("{}", context(&e))).unwrap_or_default();
                if listed != expected {
                    panic!(
                        "{}\n{resp}",
                        context(&format!("packages listed {listed:?}, expected {expected:?}"))
                    );
                }
            }
            let mut expected = (0, 0);
            for lane in lanes.iter().filter(|l| l.owner == owner) {
                let (bytes, versions) = lane.usage();
                expected = (expected.0 + bytes, expected.1 + versions);
            }
            let counted = usage_of(&srv, owner);
            if counted != expected {
                panic!(
                    "{}",
                    context(&format!(
                        "usage of {owner}: (bytes, versions) {counted:?}, the files add up to {expected:?}"
                    ))
                );
            }
        }
        if !offline {
            let out = srv.cli(&["verify"], None);
            if out.code() != Some(0) {
                panic!("{}\n{out}", context("depot verify through the restarted server failed"));
            }
            // The restart reclaimed what the kill left staged, and nothing is in flight now.
            if !out.stdout().contains("; 0 uploads in progress;") {
                panic!("{}\n{out}", context("staged uploads survived the restart"));
            }
            stats.verifies += 1;
        }
        let in_flight: usize = lanes.iter().map(|l| l.stats.in_flight).sum();
        eprintln!(
            "torture: round {}/{kills}: killed {mode_name} after {} ms of load; {} requests cut off so far; {:.0} s in all",
            round + 1,
            load_time.as_millis(),
            in_flight,
            started.elapsed().as_secs_f64()
        );
    }
    for lane in &lanes {
        stats.add(&lane.stats);
    }
    // The database stays usable for ordinary work after all that.
    let cred = lanes[0].cred.clone();
    srv.upload(&cred, "alice", "after", "1", "f.bin", b"after the torture").expect(201);
    srv.download(&cred, "alice", "after", "1", "f.bin").expect(200).expect_body(b"after the torture");
    assert!(stats.acked_uploads > 0, "no upload was acknowledged in {kills} rounds");

    eprintln!(
        "torture: seed {seed:#x}: {kills} kills survived ({modes:?}); acknowledged: {} uploads, {} Go uploads, {} file deletes, {} version deletes, {} quota refusals; {} reads during the load; {} requests cut off by a kill ({} had taken effect; {:?}); checks after restarts: {} acknowledged files byte-exact, {} deleted names absent, {} listings, {} verify runs; 0 failures; {:.1} s",
        stats.acked_uploads,
        stats.acked_go_uploads,
        stats.acked_file_deletes,
        stats.acked_version_deletes,
        stats.quota_refusals,
        stats.load_reads,
        stats.in_flight,
        stats.in_flight_landed,
        stats.cut,
        stats.present_checked,
        stats.absent_checked,
        stats.listings_checked,
        stats.verifies,
        started.elapsed().as_secs_f64()
    );
}
