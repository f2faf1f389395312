//! The printed report: one line per figure, each computed in `figures`.

use super::figures::{Measured, Phase, Results, Trivial};

/// Prints the whole report.
pub fn print(backend: &str, concurrency: usize, seconds: u64, cores: usize, results: &Results) {
    println!(
        "chasqui bench: {backend}, {concurrency} clients, {seconds} s per phase, {cores} cores; \
         the sandbox in its own process; build {}",
        crate::build_info::COMMIT
    );
    trivial(&results.trivial);
    if let Some(delivery) = &results.delivery {
        phase(delivery, cores);
    }
    phase(&results.accept_only, cores);
    summary(results, concurrency);
}

fn trivial(t: &Trivial) {
    println!(
        "  trivial route (GET /healthz)     {:>10.0} req/s   p50 {:.2} ms  p99 {:.2} ms",
        t.per_sec(),
        t.load.latency_ms(0.5),
        t.load.latency_ms(0.99)
    );
}

fn phase(m: &Measured, cores: usize) {
    let what = match m.phase {
        Phase::Delivery => "dispatcher on, every message sent to the sandbox and delivered",
        Phase::AcceptOnly => "--accept-only: no dispatcher",
    };
    println!("\n  {} ({what})", m.phase.name());
    accepted(m);
    if m.phase == Phase::Delivery {
        delivered(m);
    }
    cpu(m, cores);
    rows(m);
    disk(m);
    if let Some(rss) = m.peak_rss_mb {
        println!("    server peak RSS                {rss:>10.1} MB");
    }
}

fn accepted(m: &Measured) {
    println!(
        "    accepted (POST /v1/messages)   {:>10.0} msg/s   ({} messages in {:.1} s)",
        m.accepted_per_sec(),
        m.messages(),
        m.during_load.secs
    );
    println!(
        "    accept latency                 p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms   ({} errors)",
        m.load.latency_ms(0.5),
        m.load.latency_ms(0.99),
        m.load.latency_ms(1.0),
        m.load.errors
    );
}

fn delivered(m: &Measured) {
    match (m.delivered_per_sec(), m.drained) {
        (Some(rate), _) => println!(
            "    delivered end to end           {rate:>10.0} msg/s   (all delivered {:.1} s after the first send)",
            m.whole.secs
        ),
        (None, Some(d)) if d.any_failed => {
            println!("    delivered end to end           not measured: some messages failed")
        }
        _ => println!(
            "    delivered end to end           not measured: messages still pending after {:.0} s",
            m.whole.secs
        ),
    }
}

fn cpu(m: &Measured, cores: usize) {
    let unit = m.unit();
    let (load, whole) = (&m.during_load, &m.whole);
    println!(
        "    server CPU                     {:>10.0} µs per {unit} ({:.0} µs during the load, {:.2} cores busy)",
        m.server_us(),
        m.server_us_during_load(),
        load.cores(load.server.cpu_secs)
    );
    println!(
        "    sandbox CPU                    {:>10.0} µs per {unit} ({:.2} cores busy during the load)",
        m.sandbox_us(),
        load.cores(load.sandbox.cpu_secs)
    );
    println!(
        "    load generator CPU             {:>10.0} µs per request ({:.2} cores); of the {cores} cores, {:.2} idle and {:.2} taken by the host during the load",
        m.load_generator_us_per_request(),
        load.cores(load.own_cpu_secs),
        load.cores(load.idle_secs),
        load.cores(load.steal_secs)
    );
    if whole.secs > load.secs + 0.5 {
        println!(
            "                                   (per-message CPU counts until the last delivery, {:.1} s after the first send)",
            whole.secs
        );
    }
}

fn rows(m: &Measured) {
    let unit = m.unit();
    let settled = if m.rows.settled {
        ""
    } else {
        "; PostgreSQL's counters were still moving"
    };
    println!(
        "    row writes                     {:>10.2} per {unit} ({} in all{settled})",
        m.rows_per_message(),
        m.rows.total
    );
    let per = |n: u64| n as f64 / m.messages().max(1) as f64;
    for (table, c) in &m.rows.tables {
        println!(
            "      {table:<28} {:>10.2}   ({:.2} inserted, {:.2} updated, {:.2} deleted; {} rows)",
            per(c.total()),
            per(c.inserted),
            per(c.updated),
            per(c.deleted),
            c.total()
        );
    }
}

fn disk(m: &Measured) {
    let unit = m.unit();
    println!(
        "    disk writes                    {:>10.1} KB per {unit} by the server ({:.0} MB in all), {:.1} KB by the sandbox",
        m.server_kb_written(),
        m.whole.server.written_bytes as f64 / 1048576.0,
        m.sandbox_kb_written()
    );
    if let Some(wal) = m.wal_kb() {
        println!(
            "    PostgreSQL WAL                 {wal:>10.1} KB per {unit} (the whole cluster's, every database)"
        );
    }
}

fn summary(r: &Results, concurrency: usize) {
    println!("\n  ratios within this run, and the figures they go with");
    let line = |label: &str, value: String| println!("    {label:<48} {value:>10}");
    let percent = |ratio: Option<f64>| ratio.map_or("-".into(), |r| format!("{:.0}%", 100.0 * r));
    line(
        "accept-only / trivial route",
        percent(Some(r.accept_only_of_trivial())),
    );
    let Some(delivery) = &r.delivery else {
        return;
    };
    line(
        "accepted/s with delivery / accept-only",
        percent(r.delivery_of_accept_only()),
    );
    line(
        "delivered/s / accepted/s",
        percent(r.delivered_of_accepted()),
    );
    line(
        &format!("accept p99 with delivery, {concurrency} clients"),
        format!("{:.2} ms", delivery.load.latency_ms(0.99)),
    );
    line(
        "server CPU per delivered message",
        format!("{:.0} µs", delivery.server_us()),
    );
    line(
        "row writes per delivered message",
        format!("{:.2}", delivery.rows_per_message()),
    );
    line(
        "accepted/s with delivery; accept-only",
        format!(
            "{:.0}; {:.0}",
            delivery.accepted_per_sec(),
            r.accept_only.accepted_per_sec()
        ),
    );
}
