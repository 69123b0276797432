//! Restoring into a Redis Cluster: the topology is read from a seed node
//! (`CLUSTER SHARDS`, or `CLUSTER SLOTS` on servers before 7.0), each key
//! goes to the master of its hash slot over one pipelined connection per
//! master, and the cluster's redirections are followed while slots move:
//! `-MOVED` updates the slot map and sends the key again, `-ASK` sends it
//! once to the named node after `ASKING`, `-TRYAGAIN`/`-CLUSTERDOWN` are
//! retried after a growing pause, a bounded number of times. A cluster has
//! only database 0: keys of other databases are reported as not placed.
//! Function libraries go to every master.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::client::{Client, Reply, TlsOptions, Url};
use super::encode::{Built, CommandBuilder, Unit, UnitKind};
use super::{Progress, RestoreOptions, RestoreReport, Restorer};
use crate::cluster::slot::{SLOTS, key_slot};
use crate::error::{Error, Result};
use crate::rdb::read::{Record, Trailer};
use crate::sink::{Flow, RecordSink};

/// Redirections one key may follow before it is reported (a slot bouncing
/// between nodes for longer than this is a cluster fault, not a move).
const MAX_REDIRECTS: u32 = 16;
/// `TRYAGAIN`/`CLUSTERDOWN` retries of one key before it is reported.
const MAX_RETRIES: u32 = 8;
/// First pause after `TRYAGAIN`/`CLUSTERDOWN`; doubled per retry.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
/// Longest pause between retries.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// Most nodes (masters and redirection targets) a restore talks to.
const MAX_NODES: usize = 4096;
/// Slot-map entry of a slot no master serves.
const NO_NODE: u16 = u16::MAX;

/// A master and the slot ranges it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Host to connect to (the node's preferred endpoint).
    pub host: String,
    /// Port (the TLS port for `rediss://`).
    pub port: u16,
    /// Inclusive slot ranges.
    pub ranges: Vec<(u16, u16)>,
}

/// What the cluster did during a restore.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClusterStats {
    /// The command the topology was read with (`CLUSTER SHARDS` or
    /// `CLUSTER SLOTS`).
    pub topology: String,
    /// Masters serving slots at the start.
    pub masters: usize,
    /// `-MOVED` replies followed (the slot map was updated).
    pub moved: u64,
    /// `-ASK` replies followed (`ASKING` + the command to the named node).
    pub ask: u64,
    /// `-TRYAGAIN` replies retried.
    pub tryagain: u64,
    /// `-CLUSTERDOWN` replies retried (the topology is read again).
    pub clusterdown: u64,
    /// Keys refused because their database is not 0.
    pub not_placed: u64,
    /// Keys restored per master (`host:port`).
    pub keys_per_node: BTreeMap<String, u64>,
}

/// A cluster's answer that is not the command's own result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot lives elsewhere for good.
    Moved {
        /// The slot.
        slot: u16,
        /// Host of the new owner (empty: the replying node's host).
        host: String,
        /// Port of the new owner.
        port: u16,
    },
    /// The key is being imported by another node: ask it, this once.
    Ask {
        /// The slot.
        slot: u16,
        /// Host of the importing node (empty: the replying node's host).
        host: String,
        /// Its port.
        port: u16,
    },
    /// `TRYAGAIN` (keys split by a migration) or `CLUSTERDOWN`: later.
    Retry {
        /// True for `CLUSTERDOWN` (the slot map may have changed).
        down: bool,
    },
}

impl Redirect {
    /// Classifies an error reply; `None` for the command's own errors.
    pub fn parse(e: &str) -> Option<Redirect> {
        let mut it = e.split(' ');
        let word = it.next()?;
        let target = |it: &mut std::str::Split<'_, char>| -> Option<(u16, String, u16)> {
            let slot = it.next()?.parse().ok().filter(|&s| s < SLOTS)?;
            let (host, port) = it.next()?.rsplit_once(':')?;
            Some((slot, host.to_string(), port.parse().ok()?))
        };
        match word {
            "MOVED" => {
                target(&mut it).map(|(slot, host, port)| Redirect::Moved { slot, host, port })
            }
            "ASK" => target(&mut it).map(|(slot, host, port)| Redirect::Ask { slot, host, port }),
            "TRYAGAIN" => Some(Redirect::Retry { down: false }),
            "CLUSTERDOWN" => Some(Redirect::Retry { down: true }),
            _ => None,
        }
    }
}

/// Fields of a RESP2 flat map (`[name, value, name, value, ...]`).
fn map_field<'r>(r: &'r Reply, name: &str) -> Option<&'r Reply> {
    let Reply::Array(Some(items)) = r else {
        return None;
    };
    items
        .chunks(2)
        .find(|kv| kv[0].bytes() == Some(name.as_bytes()))
        .and_then(|kv| kv.get(1))
}

fn text(r: &Reply) -> Option<String> {
    r.bytes().map(|b| String::from_utf8_lossy(b).into_owned())
}

fn int(r: &Reply) -> Option<i64> {
    match r {
        Reply::Int(i) => Some(*i),
        _ => text(r)?.parse().ok(),
    }
}

fn slot_of(r: &Reply) -> Option<u16> {
    int(r)
        .and_then(|i| u16::try_from(i).ok())
        .filter(|&s| s < SLOTS)
}

/// An endpoint the cluster reports, or the seed's host when it does not
/// know one (`?` or empty, as with `cluster-preferred-endpoint-type
/// unknown-endpoint`).
fn endpoint(reported: Option<String>, seed_host: &str) -> String {
    match reported {
        Some(h) if !h.is_empty() && h != "?" => h,
        _ => seed_host.to_string(),
    }
}

fn bad_topology(what: &str) -> Error {
    Error::sink(format!("unexpected cluster topology reply: {what}"))
}

/// Reads a `CLUSTER SHARDS` reply (Redis 7.0+): for every shard with
/// slots, its online master, at its TLS port when `tls`.
pub fn parse_shards(r: &Reply, tls: bool, seed_host: &str) -> Result<Vec<Shard>> {
    let Reply::Array(Some(shards)) = r else {
        return Err(bad_topology("CLUSTER SHARDS is not an array"));
    };
    let mut out = Vec::new();
    for shard in shards {
        let slots = match map_field(shard, "slots") {
            Some(Reply::Array(Some(s))) => s,
            _ => return Err(bad_topology("a shard without slots")),
        };
        let ranges = slots
            .chunks(2)
            .map(|p| match p {
                [a, b] => Some((slot_of(a)?, slot_of(b)?)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad_topology("a bad slot range"))?;
        if ranges.is_empty() {
            continue;
        }
        let Some(Reply::Array(Some(nodes))) = map_field(shard, "nodes") else {
            return Err(bad_topology("a shard without nodes"));
        };
        let master = nodes.iter().find(|n| {
            map_field(n, "role").and_then(text).as_deref() == Some("master")
                && map_field(n, "health").and_then(text).as_deref() != Some("fail")
        });
        let Some(m) = master else {
            return Err(Error::sink(format!(
                "slots {ranges:?} have no healthy master (CLUSTER SHARDS)"
            )));
        };
        let (first, second) = if tls {
            ("tls-port", "port")
        } else {
            ("port", "tls-port")
        };
        let port = map_field(m, first)
            .or_else(|| map_field(m, second))
            .and_then(int)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad_topology("a master without a port"))?;
        let host = endpoint(
            map_field(m, "endpoint")
                .and_then(text)
                .or_else(|| map_field(m, "ip").and_then(text)),
            seed_host,
        );
        out.push(Shard { host, port, ranges });
    }
    Ok(out)
}

/// Reads a `CLUSTER SLOTS` reply: `[start, end, [host, port, id], replicas...]`
/// per range, the first node being the master.
pub fn parse_slots(r: &Reply, seed_host: &str) -> Result<Vec<Shard>> {
    let Reply::Array(Some(ranges)) = r else {
        return Err(bad_topology("CLUSTER SLOTS is not an array"));
    };
    let mut out: Vec<Shard> = Vec::new();
    for range in ranges {
        let Reply::Array(Some(f)) = range else {
            return Err(bad_topology("a slot range is not an array"));
        };
        let (Some(a), Some(b), Some(Reply::Array(Some(master)))) = (
            f.first().and_then(slot_of),
            f.get(1).and_then(slot_of),
            f.get(2),
        ) else {
            return Err(bad_topology("a slot range without a master"));
        };
        let host = endpoint(master.first().and_then(text), seed_host);
        let port = master
            .get(1)
            .and_then(int)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad_topology("a master without a port"))?;
        match out.iter_mut().find(|s| s.host == host && s.port == port) {
            Some(s) => s.ranges.push((a, b)),
            None => out.push(Shard {
                host,
                port,
                ranges: vec![(a, b)],
            }),
        }
    }
    Ok(out)
}

/// Reads the topology from a node: `CLUSTER SHARDS`, falling back to
/// `CLUSTER SLOTS` on servers that do not know it. Returns the masters
/// and the command that answered.
pub fn discover(c: &mut Client, seed: &Url) -> Result<(Vec<Shard>, &'static str)> {
    let r = c.call(&[b"CLUSTER", b"SHARDS"])?;
    if r.error().is_none() {
        return Ok((parse_shards(&r, seed.tls, &seed.host)?, "CLUSTER SHARDS"));
    }
    let r = c.call(&[b"CLUSTER", b"SLOTS"])?;
    match r.error() {
        None => Ok((parse_slots(&r, &seed.host)?, "CLUSTER SLOTS")),
        Some(e) => Err(Error::usage(format!(
            "--cluster: {}:{} cannot tell its cluster topology: {e}",
            seed.host, seed.port
        ))),
    }
}

/// Where a unit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// To the master of this slot (per the slot map).
    Slot(u16),
    /// To this node (functions; `ASK` targets, with `ASKING`).
    Node(usize),
}

/// A unit on its way, with what it went through.
struct Sent {
    seq: u64,
    unit: Unit,
    route: Route,
    asking: bool,
    redirects: u32,
    retries: u32,
}

/// A master (or an `ASK` target) and its connection.
struct Node {
    host: String,
    port: u16,
    client: Option<Client>,
    inflight: VecDeque<Sent>,
}

impl Node {
    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A record sent and not final yet.
struct Open {
    /// Copies without a final outcome (a library goes to every master).
    copies: usize,
    /// One copy failed.
    failed: bool,
    /// It is a function library (counted when every master took it).
    function: bool,
}

/// How a unit's replies came out.
enum Outcome {
    Ok,
    Redirect(Redirect),
    Error(String),
}

/// The restoring sink for a cluster.
pub struct ClusterSink {
    opts: RestoreOptions,
    seed: Url,
    tls: TlsOptions,
    builder: CommandBuilder,
    nodes: Vec<Node>,
    slots: Vec<u16>,
    retry: VecDeque<Sent>,
    pause_until: Option<Instant>,
    refresh: bool,
    /// Records sent and not final, by sequence number.
    outstanding: BTreeMap<u64, Open>,
    seq: u64,
    sent: u64,
    stats: ClusterStats,
    /// Units whose replies arrived, kept so their buffers serve again.
    spare: Vec<Unit>,
    /// Running totals (the cluster figures are added at the end).
    pub report: RestoreReport,
    /// Called after each key with (keys sent, bytes sent, input offset).
    pub progress: Option<Progress>,
}

impl ClusterSink {
    /// Reads the topology through `seed` (an open connection to `url`) and
    /// prepares a sink; masters are connected when first needed, with the
    /// URL's credentials and TLS settings.
    pub fn new(
        mut seed: Client,
        url: &Url,
        tls: &TlsOptions,
        opts: RestoreOptions,
    ) -> Result<Self> {
        if url.db.is_some_and(|d| d != 0) {
            return Err(Error::usage(
                "--cluster: a cluster has only database 0; drop the /db of the URL",
            ));
        }
        let mut s = ClusterSink {
            builder: CommandBuilder::new(&opts),
            opts,
            seed: Url {
                db: None,
                ..url.clone()
            },
            tls: tls.clone(),
            nodes: Vec::new(),
            slots: vec![NO_NODE; SLOTS as usize],
            retry: VecDeque::new(),
            pause_until: None,
            refresh: false,
            outstanding: BTreeMap::new(),
            seq: 0,
            sent: 0,
            stats: ClusterStats::default(),
            spare: Vec::new(),
            report: RestoreReport::default(),
            progress: None,
        };
        let (shards, how) = discover(&mut seed, url)?;
        s.stats.topology = how.to_string();
        s.stats.masters = shards.len();
        s.apply(&shards)?;
        Ok(s)
    }

    /// The masters and the slots they serve, as the sink currently sees them.
    pub fn slot_map(&self) -> Vec<Shard> {
        let mut out: Vec<Shard> = Vec::new();
        for (slot, &n) in self.slots.iter().enumerate() {
            let Some(node) = self.nodes.get(n as usize) else {
                continue;
            };
            let slot = slot as u16;
            match out
                .iter_mut()
                .find(|s| s.host == node.host && s.port == node.port)
            {
                Some(s) => match s.ranges.last_mut() {
                    Some(r) if r.1 + 1 == slot => r.1 = slot,
                    _ => s.ranges.push((slot, slot)),
                },
                None => out.push(Shard {
                    host: node.host.clone(),
                    port: node.port,
                    ranges: vec![(slot, slot)],
                }),
            }
        }
        out
    }

    /// Redirections and retries so far.
    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    fn apply(&mut self, shards: &[Shard]) -> Result<()> {
        self.slots.fill(NO_NODE);
        for sh in shards {
            let n = self.node(&sh.host, sh.port)? as u16;
            for &(a, b) in &sh.ranges {
                for slot in a..=b.min(SLOTS - 1) {
                    self.slots[slot as usize] = n;
                }
            }
        }
        Ok(())
    }

    /// Reads the topology again (after `CLUSTERDOWN`).
    fn rediscover(&mut self) -> Result<()> {
        let mut c = Client::connect_with(&self.seed, &self.tls)?;
        let (shards, _) = discover(&mut c, &self.seed)?;
        self.apply(&shards)
    }

    /// The index of node `host:port`, added if new.
    fn node(&mut self, host: &str, port: u16) -> Result<usize> {
        if let Some(i) = self
            .nodes
            .iter()
            .position(|n| n.host == host && n.port == port)
        {
            return Ok(i);
        }
        // Slot-map entries are u16 (NO_NODE excluded); a real cluster has
        // at most about a thousand masters.
        if self.nodes.len() >= MAX_NODES {
            return Err(Error::sink(format!(
                "the cluster named more than {MAX_NODES} nodes"
            )));
        }
        self.nodes.push(Node {
            host: host.to_string(),
            port,
            client: None,
            inflight: VecDeque::new(),
        });
        Ok(self.nodes.len() - 1)
    }

    fn client(&mut self, n: usize) -> Result<&mut Client> {
        let node = &mut self.nodes[n];
        if node.client.is_none() {
            let url = Url {
                host: node.host.clone(),
                port: node.port,
                db: None,
                ..self.seed.clone()
            };
            let c = Client::connect_with(&url, &self.tls)
                .map_err(|e| Error::sink(format!("cluster node {}: {e}", node.name())))?;
            node.client = Some(c);
        }
        node.client
            .as_mut()
            .ok_or_else(|| Error::sink("cluster node without a connection"))
    }

    /// Keeps a finished unit's buffers for a later record (as many as can
    /// be in flight).
    fn recycle(&mut self, u: Unit) {
        if self.spare.len() < self.opts.depth {
            self.spare.push(u);
        }
    }

    /// Settles one copy of record `seq`; the record is final when its last
    /// copy is, and the checkpoint moves past every record before the
    /// oldest one still open.
    fn done(&mut self, seq: u64, ok: bool) -> Result<()> {
        if let Some(o) = self.outstanding.get_mut(&seq) {
            o.copies = o.copies.saturating_sub(1);
            o.failed |= !ok;
            if o.copies == 0 {
                if o.function && !o.failed {
                    self.report.functions += 1;
                }
                self.outstanding.remove(&seq);
            }
        }
        self.checkpoint(false)
    }

    /// Records final, counted from the start without a gap.
    fn watermark(&self) -> u64 {
        self.outstanding.keys().next().copied().unwrap_or(self.seq)
    }

    fn checkpoint(&mut self, last: bool) -> Result<()> {
        let mark = self.watermark();
        self.report.records_done = mark;
        if let Some(c) = self.opts.checkpoint.as_mut()
            && (last || mark / c.every > c.records_done / c.every)
        {
            c.records_done = mark;
            c.save()?;
        }
        Ok(())
    }

    /// Sends a unit where its route says, reading replies when that node's
    /// pipeline is full. Redirected units go to `retry`.
    fn dispatch(&mut self, s: Sent) -> Result<()> {
        let n = match s.route {
            Route::Node(n) => n,
            Route::Slot(slot) => match self.slots[slot as usize] {
                // Perhaps for a moment (a failover, a slot being
                // reassigned): the topology is read again, later.
                NO_NODE => return self.later(s, true, "no master serving the slot"),
                n => n as usize,
            },
        };
        let c = self.client(n)?;
        if s.asking {
            for i in 0..s.unit.starts.len() {
                c.send(&[b"ASKING"])?;
                c.send_raw(s.unit.command_bytes(i))?;
            }
        } else {
            c.send_raw(&s.unit.resp)?;
        }
        self.report.bytes += s.unit.resp.len() as u64;
        let node = &mut self.nodes[n];
        node.inflight.push_back(s);
        if node.inflight.len() >= self.opts.depth {
            // Every master gets what is queued for it before this one is
            // waited for, so they all work while its replies come back.
            for m in 0..self.nodes.len() {
                self.flush(m)?;
            }
            while self.nodes[n].inflight.len() > self.opts.depth / 2 {
                self.read_one(n)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, n: usize) -> Result<()> {
        match self.nodes[n].client.as_mut() {
            Some(c) if c.queued() > 0 => c.flush(),
            _ => Ok(()),
        }
    }

    /// Reads the replies of the oldest unit in flight on node `n`.
    fn read_one(&mut self, n: usize) -> Result<()> {
        let Some(mut s) = self.nodes[n].inflight.pop_front() else {
            return Ok(());
        };
        let c = self.client(n)?;
        let mut outcome = Outcome::Ok;
        for _ in 0..s.unit.starts.len() {
            if s.asking {
                // ASKING's own `+OK`.
                c.read_reply()?;
            }
            if let Reply::Error(e) = c.read_reply()?
                && matches!(outcome, Outcome::Ok)
            {
                outcome = match Redirect::parse(&e) {
                    Some(r) => Outcome::Redirect(r),
                    None => Outcome::Error(e),
                };
            }
        }
        match outcome {
            Outcome::Ok => {
                match s.unit.kind {
                    UnitKind::Key => {
                        self.report.restored += 1;
                        let name = self.nodes[n].name();
                        *self.stats.keys_per_node.entry(name).or_default() += 1;
                    }
                    UnitKind::Function => {}
                }
                self.recycle(s.unit);
                self.done(s.seq, true)
            }
            Outcome::Error(e) => {
                let u = &s.unit;
                let before = self.report.failed.len();
                self.report
                    .refusal(u.kind, self.opts.existing, u.db, &u.key, e);
                let failed = self.report.failed.len() > before;
                if let Some(f) = self.report.failed.last_mut().filter(|_| failed)
                    && u.kind == UnitKind::Function
                {
                    f.error = format!("{} (on {})", f.error, self.nodes[n].name());
                }
                self.recycle(s.unit);
                self.done(s.seq, !failed)
            }
            Outcome::Redirect(r) => {
                let here = self.nodes[n].host.clone();
                let host_or_here = |h: String| if h.is_empty() { here.clone() } else { h };
                match r {
                    Redirect::Moved { slot, host, port } => {
                        self.stats.moved += 1;
                        let to = self.node(&host_or_here(host), port)?;
                        self.slots[slot as usize] = to as u16;
                        s.route = Route::Slot(slot);
                        s.asking = false;
                        self.redirect(s, "MOVED")
                    }
                    Redirect::Ask { host, port, .. } => {
                        self.stats.ask += 1;
                        s.route = Route::Node(self.node(&host_or_here(host), port)?);
                        s.asking = true;
                        self.redirect(s, "ASK")
                    }
                    Redirect::Retry { down } => {
                        if down {
                            self.stats.clusterdown += 1;
                        } else {
                            self.stats.tryagain += 1;
                        }
                        let what = if down { "CLUSTERDOWN" } else { "TRYAGAIN" };
                        self.later(s, down, what)
                    }
                }
            }
        }
    }

    /// Sends a unit again after a pause that doubles with its retries
    /// (reading the topology again first when `refresh`); reports it once
    /// it has been retried `MAX_RETRIES` times.
    fn later(&mut self, mut s: Sent, refresh: bool, what: &str) -> Result<()> {
        s.retries += 1;
        if s.retries > MAX_RETRIES {
            let msg = format!("not placed: {what} after {MAX_RETRIES} retries");
            self.report.fail(s.unit.db, &s.unit.key, msg);
            return self.done(s.seq, false);
        }
        self.refresh |= refresh;
        let pause = FIRST_PAUSE
            .saturating_mul(1 << (s.retries - 1).min(16))
            .min(MAX_PAUSE);
        let until = Instant::now() + pause;
        self.pause_until = Some(self.pause_until.map_or(until, |t| t.max(until)));
        // A key of a slot whose migration stalled goes back to the slot's
        // owner.
        if let (Route::Node(_), UnitKind::Key) = (s.route, s.unit.kind) {
            s.route = Route::Slot(key_slot(&s.unit.key));
            s.asking = false;
        }
        self.retry.push_back(s);
        Ok(())
    }

    fn redirect(&mut self, mut s: Sent, what: &str) -> Result<()> {
        s.redirects += 1;
        if s.redirects > MAX_REDIRECTS {
            let msg = format!("not placed: more than {MAX_REDIRECTS} redirections (last {what})");
            self.report.fail(s.unit.db, &s.unit.key, msg);
            return self.done(s.seq, false);
        }
        self.retry.push_back(s);
        Ok(())
    }

    /// Sends the redirected and retried units (after the pause a
    /// `TRYAGAIN`/`CLUSTERDOWN` asked for).
    fn pump(&mut self) -> Result<()> {
        while let Some(s) = self.retry.pop_front() {
            if let Some(t) = self.pause_until.take() {
                // Flush first: what is queued should not wait for the pause.
                for n in 0..self.nodes.len() {
                    self.flush(n)?;
                }
                std::thread::sleep(t.saturating_duration_since(Instant::now()));
                if std::mem::take(&mut self.refresh) {
                    self.rediscover()?;
                }
            }
            self.dispatch(s)?;
        }
        Ok(())
    }

    /// Takes a record: keys to their slot's master, libraries to every
    /// master, keys of databases other than 0 to the report.
    fn place(&mut self, built: Built, unit: Unit) -> Result<()> {
        let seq = self.seq;
        self.seq += 1;
        match built {
            Built::Send => {}
            Built::Refused(msg) => {
                self.report.fail(unit.db, &unit.key, msg);
                return self.checkpoint(false);
            }
            Built::Nothing => return self.checkpoint(false),
        }
        if unit.kind == UnitKind::Key && unit.db != 0 {
            self.stats.not_placed += 1;
            let msg = format!(
                "not placed: db {} (a cluster has only db 0; map it with --db-map {}=0)",
                unit.db, unit.db
            );
            self.report.fail(unit.db, &unit.key, msg);
            return self.checkpoint(false);
        }
        self.sent += 1;
        let routes: Vec<Route> = match unit.kind {
            UnitKind::Key => vec![Route::Slot(key_slot(&unit.key))],
            UnitKind::Function => {
                let mut masters: Vec<u16> = self.slots.clone();
                masters.sort_unstable();
                masters.dedup();
                masters
                    .into_iter()
                    .filter(|&n| n != NO_NODE)
                    .map(|n| Route::Node(n as usize))
                    .collect()
            }
        };
        let open = Open {
            copies: routes.len(),
            failed: false,
            function: unit.kind == UnitKind::Function,
        };
        self.outstanding.insert(seq, open);
        if routes.is_empty() {
            self.report
                .fail(unit.db, &unit.key, "not placed: no masters".into());
            return self.done(seq, false);
        }
        // Every route but the last gets a copy (only libraries have more).
        let mut unit = Some(unit);
        let last = routes.len() - 1;
        for (i, route) in routes.into_iter().enumerate() {
            let unit = match i == last {
                true => unit.take().unwrap_or_default(),
                false => unit.clone().unwrap_or_default(),
            };
            self.retry.push_back(Sent {
                seq,
                unit,
                route,
                asking: false,
                redirects: 0,
                retries: 0,
            });
        }
        self.pump()
    }

    /// Sends everything queued and reads every reply, following
    /// redirections until no unit is left; stores the final checkpoint.
    pub fn drain(&mut self) -> Result<()> {
        loop {
            self.pump()?;
            let busy: Vec<usize> = (0..self.nodes.len())
                .filter(|&n| !self.nodes[n].inflight.is_empty())
                .collect();
            if busy.is_empty() {
                break;
            }
            for &n in &busy {
                self.flush(n)?;
            }
            for n in busy {
                while !self.nodes[n].inflight.is_empty() {
                    self.read_one(n)?;
                }
            }
        }
        self.checkpoint(true)?;
        self.report.cluster = Some(self.stats.clone());
        Ok(())
    }
}

impl RecordSink for ClusterSink {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if matches!(r, Record::Key(_) | Record::Function { .. })
            && self.report.resumed(self.opts.skip)
        {
            self.seq += 1;
            return Ok(Flow::Continue);
        }
        let mut unit = self.spare.pop().unwrap_or_default();
        match r {
            Record::Key(k) => {
                // Not encoded at all when it cannot be placed.
                let built = if k.db != 0 {
                    unit.kind = UnitKind::Key;
                    unit.db = k.db;
                    unit.key = k.key.to_vec().map_err(|p| Error::parse(p, k.offset))?;
                    Built::Send
                } else {
                    self.builder.key_record(k, &mut unit)?
                };
                self.place(built, unit)?;
                if let Some(p) = self.progress.as_mut() {
                    p(self.sent, self.report.bytes, k.end);
                }
            }
            Record::Function { code } => {
                let c = code.to_vec().map_err(|p| Error::parse(p, 0))?;
                let built = self.builder.function(&c, &mut unit)?;
                self.place(built, unit)?;
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, _t: &Trailer) -> Result<()> {
        self.drain()
    }
}

impl Restorer for ClusterSink {
    fn report(&self) -> &RestoreReport {
        &self.report
    }
    fn set_progress(&mut self, p: Progress) {
        self.progress = Some(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }
    fn arr(v: Vec<Reply>) -> Reply {
        Reply::Array(Some(v))
    }

    #[test]
    fn redirections() {
        assert_eq!(
            Redirect::parse("MOVED 3999 127.0.0.1:6381"),
            Some(Redirect::Moved {
                slot: 3999,
                host: "127.0.0.1".into(),
                port: 6381
            })
        );
        assert_eq!(
            Redirect::parse("ASK 12 ::1:7000"),
            Some(Redirect::Ask {
                slot: 12,
                host: "::1".into(),
                port: 7000
            })
        );
        assert_eq!(
            Redirect::parse("MOVED 5 :7001"),
            Some(Redirect::Moved {
                slot: 5,
                host: String::new(),
                port: 7001
            })
        );
        assert_eq!(
            Redirect::parse("CLUSTERDOWN The cluster is down"),
            Some(Redirect::Retry { down: true })
        );
        assert_eq!(
            Redirect::parse("TRYAGAIN Multiple keys request during rehashing of slot"),
            Some(Redirect::Retry { down: false })
        );
        assert_eq!(Redirect::parse("MOVED 16384 h:1"), None);
        assert_eq!(Redirect::parse("MOVED x"), None);
        assert_eq!(
            Redirect::parse("BUSYKEY Target key name already exists."),
            None
        );
    }

    fn node(role: &str, port: i64, tls_port: Option<i64>, endpoint: &str) -> Reply {
        let mut v = vec![bulk("id"), bulk("abc"), bulk("port"), Reply::Int(port)];
        if let Some(t) = tls_port {
            v.extend([bulk("tls-port"), Reply::Int(t)]);
        }
        v.extend([
            bulk("ip"),
            bulk("10.0.0.9"),
            bulk("endpoint"),
            bulk(endpoint),
            bulk("role"),
            bulk(role),
            bulk("health"),
            bulk("online"),
        ]);
        arr(v)
    }

    #[test]
    fn shards_reply() {
        let r = arr(vec![
            arr(vec![
                bulk("slots"),
                arr(vec![
                    Reply::Int(0),
                    Reply::Int(5),
                    Reply::Int(10),
                    Reply::Int(10),
                ]),
                bulk("nodes"),
                arr(vec![
                    node("replica", 7003, None, "h2"),
                    node("master", 7000, Some(8000), "h1"),
                ]),
            ]),
            // A shard without slots (an empty master) is left out.
            arr(vec![
                bulk("slots"),
                arr(vec![]),
                bulk("nodes"),
                arr(vec![node("master", 7005, None, "h5")]),
            ]),
            arr(vec![
                bulk("slots"),
                arr(vec![Reply::Int(6), Reply::Int(9)]),
                bulk("nodes"),
                arr(vec![node("master", 7001, None, "?")]),
            ]),
        ]);
        let s = parse_shards(&r, false, "seed").unwrap();
        assert_eq!(
            s,
            vec![
                Shard {
                    host: "h1".into(),
                    port: 7000,
                    ranges: vec![(0, 5), (10, 10)]
                },
                Shard {
                    host: "seed".into(),
                    port: 7001,
                    ranges: vec![(6, 9)]
                }
            ]
        );
        assert_eq!(parse_shards(&r, true, "seed").unwrap()[0].port, 8000);
        assert!(parse_shards(&bulk("x"), false, "seed").is_err());
    }

    #[test]
    fn slots_reply() {
        let m = |h: &str, p: i64| arr(vec![bulk(h), Reply::Int(p), bulk("id")]);
        let r = arr(vec![
            arr(vec![Reply::Int(0), Reply::Int(99), m("a", 1), m("r", 9)]),
            arr(vec![Reply::Int(100), Reply::Int(16383), m("", 2)]),
            arr(vec![Reply::Int(200), Reply::Int(300), m("a", 1)]),
        ]);
        let s = parse_slots(&r, "seed").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].ranges, vec![(0, 99), (200, 300)]);
        assert_eq!((s[1].host.as_str(), s[1].port), ("seed", 2));
        let bad = arr(vec![arr(vec![Reply::Int(0), Reply::Int(20000), m("a", 1)])]);
        assert!(parse_slots(&bad, "seed").is_err());
    }
}
