//! What the processes and the machine used, read from `/proc`.

use std::time::Instant;

/// CPU time and storage writes of one process so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcUsage {
    /// User and system seconds, all threads (not its children's).
    pub cpu_secs: f64,
    /// Bytes it caused to be written to storage (`write_bytes` of `/proc/PID/io`).
    pub written_bytes: u64,
}

impl ProcUsage {
    pub fn of(pid: u32) -> Result<Self, String> {
        Ok(Self {
            cpu_secs: cpu_secs(pid).ok_or_else(|| format!("cannot read /proc/{pid}/stat"))?,
            written_bytes: written_bytes(pid)
                .ok_or_else(|| format!("cannot read /proc/{pid}/io"))?,
        })
    }

    fn since(self, before: Self) -> Self {
        Self {
            cpu_secs: self.cpu_secs - before.cpu_secs,
            written_bytes: self.written_bytes.saturating_sub(before.written_bytes),
        }
    }
}

/// Everything a phase's figures are taken from, read at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    at: Instant,
    server: ProcUsage,
    sandbox: ProcUsage,
    /// The benchmark itself: the load generator.
    own_cpu_secs: f64,
    machine: Machine,
}

impl Sample {
    pub fn take(server_pid: u32, sandbox_pid: u32) -> Result<Self, String> {
        Ok(Self {
            at: Instant::now(),
            server: ProcUsage::of(server_pid)?,
            sandbox: ProcUsage::of(sandbox_pid)?,
            own_cpu_secs: cpu_secs(std::process::id()).ok_or("cannot read /proc/self/stat")?,
            machine: Machine::now().ok_or("cannot read /proc/stat")?,
        })
    }

    /// What was used from `before` to this sample.
    pub fn since(&self, before: &Sample) -> Span {
        Span {
            secs: self.at.duration_since(before.at).as_secs_f64(),
            server: self.server.since(before.server),
            sandbox: self.sandbox.since(before.sandbox),
            own_cpu_secs: self.own_cpu_secs - before.own_cpu_secs,
            idle_secs: self.machine.idle_secs - before.machine.idle_secs,
            steal_secs: self.machine.steal_secs - before.machine.steal_secs,
        }
    }
}

/// What was used over a stretch of time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub secs: f64,
    pub server: ProcUsage,
    pub sandbox: ProcUsage,
    pub own_cpu_secs: f64,
    /// Seconds the machine's cores sat idle or waited for I/O, all cores together.
    pub idle_secs: f64,
    /// Seconds the hypervisor gave the cores to other guests.
    pub steal_secs: f64,
}

impl Span {
    /// Cores a number of CPU seconds kept busy on average over the span.
    pub fn cores(&self, cpu_secs: f64) -> f64 {
        cpu_secs / self.secs.max(1e-9)
    }
}

/// The machine's idle and stolen time since boot.
#[derive(Debug, Clone, Copy)]
struct Machine {
    idle_secs: f64,
    steal_secs: f64,
}

impl Machine {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
        let ticks: Vec<f64> = cpu
            .split_whitespace()
            .filter_map(|t| t.parse().ok())
            .collect();
        let per_sec = ticks_per_sec()?;
        Some(Self {
            idle_secs: (ticks.get(3)? + ticks.get(4)?) / per_sec,
            steal_secs: ticks.get(7)? / per_sec,
        })
    }
}

/// The process's peak resident set so far, MB.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The machine's cores.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn written_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 14th and 15th of the line.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / ticks_per_sec()?)
}

/// The kernel's clock ticks per second, the unit of `/proc`'s CPU times.
fn ticks_per_sec() -> Option<f64> {
    // SAFETY: sysconf only reads a system constant.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then_some(per_sec as f64)
}
