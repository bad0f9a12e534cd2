//! A shutdown as an inline SVG chart: time from the first SIGTERM on the x
//! axis (a preStop hook before zero), a row per process (PID 1 first), the
//! grace period as a band, every signal marked with the kernel's verdict,
//! every delivery with what the receiver did, every exit, and the SIGKILL.
//! Each mark carries its time (`data-t`) and a title in words; the axis
//! ticks carry theirs, so a reader (or a test) can map one to the other.

use super::super::html::Html;
use super::super::wire::{StepWire, TimelineDoc};

/// Width of the drawing (the SVG scales to the page).
const WIDTH: f64 = 980.0;
/// Where the plot starts (labels to its left) and ends.
const X0: f64 = 210.0;
const X1: f64 = 960.0;
/// The axis and its labels, above the rows (tick labels, then the band's).
const AXIS_H: f64 = 46.0;
const ROW_H: f64 = 24.0;

/// A row of the chart.
struct Row {
    /// The process, or `None` for the preStop hook's row.
    pid: Option<u32>,
    label: String,
}

/// Maps seconds to x.
struct Scale {
    t0: f64,
    t1: f64,
}

impl Scale {
    fn x(&self, t: f64) -> f64 {
        X0 + (t - self.t0) / (self.t1 - self.t0) * (X1 - X0)
    }
}

/// A "nice" tick step for a span of `span` seconds: about 6–10 ticks.
fn tick_step(span: f64) -> f64 {
    let raw = span / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if raw <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

fn step_t(s: &StepWire<'_>) -> f64 {
    match s {
        StepWire::Signal { t, .. }
        | StepWire::Deliver { t, .. }
        | StepWire::Hook { t, .. }
        | StepWire::Exit { t, .. } => *t,
    }
}

/// The grace period drawn: as set, where the runtime records it, else as
/// the runtime's SIGKILL used it.
pub fn grace_s(t: &TimelineDoc<'_>) -> Option<f64> {
    t.grace_period_s.map(|g| g as f64).or(t.sigkill_after_s)
}

/// The chart of one shutdown.
pub fn timeline(h: &mut Html, t: &TimelineDoc<'_>) {
    // Rows: PID 1, then each process in the order it first appears; the hook apart.
    let mut rows: Vec<Row> = vec![Row {
        pid: Some(t.init_pid),
        label: format!("PID 1: {} {}", t.init_pid, t.init_comm),
    }];
    let add = |pid: u32, comm: &str, rows: &mut Vec<Row>| {
        if !rows.iter().any(|r| r.pid == Some(pid)) {
            rows.push(Row {
                pid: Some(pid),
                label: format!("{pid} {comm}"),
            });
        }
    };
    let mut hooks = false;
    for s in &t.steps {
        match s {
            StepWire::Signal {
                to_pid, to_comm, ..
            } => add(*to_pid, to_comm, &mut rows),
            StepWire::Deliver { pid, comm, .. } | StepWire::Exit { pid, comm, .. } => {
                add(*pid, comm, &mut rows)
            }
            StepWire::Hook { .. } => hooks = true,
        }
    }
    if hooks {
        rows.push(Row {
            pid: None,
            label: "preStop hook".to_owned(),
        });
    }
    let grace = grace_s(t);
    let first = t.steps.iter().map(step_t).fold(0.0, f64::min);
    let last = t
        .steps
        .iter()
        .map(step_t)
        .fold(t.total_s, f64::max)
        .max(grace.unwrap_or(0.0));
    let span = (last - first).max(0.01);
    let scale = Scale {
        t0: first - span * 0.02,
        t1: last + span * 0.04,
    };
    let height = AXIS_H + ROW_H * rows.len() as f64 + 8.0;
    let bottom = height - 4.0;
    h.open(
        "svg",
        &[
            ("class", "chart"),
            ("viewBox", &format!("0 0 {WIDTH} {height}")),
            ("role", "img"),
            (
                "aria-label",
                &format!("timeline of the shutdown of {}", t.shutdown),
            ),
            ("xmlns", "http://www.w3.org/2000/svg"),
        ],
    );
    // The grace band and t = 0.
    if let Some(g) = grace {
        h.open(
            "rect",
            &[
                ("class", "band"),
                ("x", &f(scale.x(0.0))),
                ("y", &f(AXIS_H - 24.0)),
                ("width", &f(scale.x(g) - scale.x(0.0))),
                ("height", &f(bottom - AXIS_H + 24.0)),
                ("data-t-end", &format!("{g}")),
            ],
        )
        .elem(
            "title",
            &[],
            &match t.grace_period_s {
                Some(set) => format!("grace period: {set} s, as set"),
                None => format!("grace period: {g:.3} s, as the runtime's SIGKILL used it"),
            },
        )
        .close("rect");
        h.open(
            "text",
            &[
                ("class", "band-label"),
                ("x", &f(scale.x(g) - 4.0)),
                ("y", &f(AXIS_H - 12.0)),
                ("text-anchor", "end"),
            ],
        )
        .text(&format!("grace period {g:.1} s"))
        .close("text");
    }
    // Axis: ticks with their time.
    let step = tick_step(scale.t1 - scale.t0);
    let mut k = (scale.t0 / step).ceil() as i64;
    while (k as f64) * step <= scale.t1 {
        let v = k as f64 * step;
        let x = f(scale.x(v));
        h.empty(
            "line",
            &[
                ("class", if k == 0 { "tick zero" } else { "tick" }),
                ("x1", &x),
                ("x2", &x),
                ("y1", &f(AXIS_H - 28.0)),
                ("y2", &f(bottom)),
                ("data-t", &format!("{v}")),
            ],
        );
        h.open(
            "text",
            &[
                ("class", "tick-label"),
                ("x", &x),
                ("y", &f(AXIS_H - 32.0)),
                ("text-anchor", "middle"),
            ],
        )
        .text(&format!("{} s", seconds_label(v, step)))
        .close("text");
        k += 1;
    }
    // Rows: label, and the process's life from the start of the plot to its exit.
    let row_y = |i: usize| AXIS_H + ROW_H * i as f64 + ROW_H / 2.0;
    for (i, r) in rows.iter().enumerate() {
        let y = row_y(i);
        h.open(
            "text",
            &[("class", "row-label"), ("x", "8"), ("y", &f(y + 4.0))],
        );
        h.text(&super::graph::cut(&r.label, 30)).close("text");
        let Some(pid) = r.pid else {
            continue;
        };
        let end = t.steps.iter().find_map(|s| match s {
            StepWire::Exit { pid: p, t, .. } if *p == pid => Some(*t),
            _ => None,
        });
        h.empty(
            "line",
            &[
                ("class", "life"),
                ("x1", &f(X0)),
                ("x2", &f(scale.x(end.unwrap_or(scale.t1)))),
                ("y1", &f(y)),
                ("y2", &f(y)),
            ],
        );
    }
    let row_of = |pid: Option<u32>| rows.iter().position(|r| r.pid == pid);
    // The hook as a bar.
    let hook_start = t.steps.iter().find_map(|s| match s {
        StepWire::Hook {
            t,
            step: "prestop_start",
            ..
        } => Some(*t),
        _ => None,
    });
    if let (Some(start), Some(i)) = (hook_start, row_of(None)) {
        let end = t
            .steps
            .iter()
            .find_map(|s| match s {
                StepWire::Hook {
                    t,
                    step: "prestop_end",
                    ..
                } => Some(*t),
                _ => None,
            })
            .unwrap_or(0.0);
        let y = row_y(i);
        h.open(
            "rect",
            &[
                ("class", "hook"),
                ("x", &f(scale.x(start))),
                ("y", &f(y - 6.0)),
                ("width", &f((scale.x(end) - scale.x(start)).max(2.0))),
                ("height", "12"),
                ("data-t", &format!("{start}")),
            ],
        )
        .elem(
            "title",
            &[],
            &format!("preStop hook from {start:+.3} s to {end:+.3} s"),
        )
        .close("rect");
    }
    // The marks: exits first, so a signal at the same moment (the SIGKILL
    // and the exit it causes) stays on top.
    let is_exit = |s: &&StepWire<'_>| matches!(s, StepWire::Exit { .. });
    let first_term = t
        .steps
        .iter()
        .find(|s| matches!(s, StepWire::Signal { to_pid1: true, .. }));
    let exits = t.steps.iter().filter(is_exit);
    for s in exits.chain(t.steps.iter().filter(|s| !is_exit(s))) {
        match s {
            StepWire::Signal {
                t: at,
                signal,
                from_pid,
                from_comm,
                to_pid,
                to_comm,
                to_pid1,
                by_kernel,
                result,
                ..
            } => {
                let Some(i) = row_of(Some(*to_pid)) else {
                    continue;
                };
                let (x, y) = (scale.x(*at), row_y(i));
                let kill = signal == "KILL";
                let class = format!(
                    "mark sig{} res-{result}{}",
                    if kill { " kill" } else { "" },
                    if *by_kernel { " kernel" } else { "" }
                );
                let shape = if kill {
                    format!("M{},{} l7,7 l-7,7 l-7,-7 z", f(x), f(y - 7.0))
                } else {
                    format!("M{},{} l6,10 l-12,0 z", f(x), f(y - 5.0))
                };
                let sender = if *by_kernel {
                    "the kernel (PID 1 exited)".to_owned()
                } else {
                    format!("{from_pid} ({from_comm})")
                };
                h.open(
                    "path",
                    &[
                        ("class", &class),
                        ("d", &shape),
                        ("data-step", "signal"),
                        ("data-signal", signal),
                        ("data-t", &format!("{at}")),
                        ("data-to-pid", &to_pid.to_string()),
                        ("data-to-pid1", if *to_pid1 { "true" } else { "false" }),
                        ("data-by-kernel", if *by_kernel { "true" } else { "false" }),
                        ("data-result", result),
                    ],
                )
                .elem(
                    "title",
                    &[],
                    &format!(
                        "{at:+.3} s  SIG{signal} {sender} → {to_pid} ({to_comm}{}): {result}",
                        if *to_pid1 { ", PID 1" } else { "" }
                    ),
                )
                .close("path");
                // The first SIGTERM is the story's start: said in words.
                if std::ptr::eq(s, first_term.unwrap_or(s)) && !kill {
                    h.open(
                        "text",
                        &[
                            ("class", "exit-label"),
                            ("x", &f(x + 8.0)),
                            ("y", &f(y - 6.0)),
                        ],
                    )
                    .text(&format!(
                        "SIG{signal} from {sender}: {}",
                        match *result {
                            "ignored" => "ignored by the kernel",
                            r => r,
                        }
                    ))
                    .close("text");
                }
            }
            StepWire::Deliver {
                t: at,
                signal,
                pid,
                comm,
                handler,
                resethand,
                dropped,
                ..
            } => {
                let Some(i) = row_of(Some(*pid)) else {
                    continue;
                };
                let (x, y) = (scale.x(*at), row_y(i));
                let what = if *dropped {
                    "dropped"
                } else if *handler == "installed" {
                    "handled"
                } else if *handler == "ignore" {
                    "ignore"
                } else {
                    "default"
                };
                h.open(
                    "circle",
                    &[
                        ("class", &format!("mark deliver dlv-{what}")),
                        ("cx", &f(x)),
                        ("cy", &f(y + 7.0)),
                        ("r", "4"),
                        ("data-step", "deliver"),
                        ("data-signal", signal),
                        ("data-t", &format!("{at}")),
                    ],
                )
                .elem(
                    "title",
                    &[],
                    &format!(
                        "{at:+.3} s  SIG{signal} taken by {pid} ({comm}): {}",
                        match what {
                            "dropped" =>
                                "default action at a PID 1: dropped by the kernel".to_owned(),
                            "handled" if *resethand =>
                                "its handler (SA_RESETHAND: reset to the default as it ran)"
                                    .to_owned(),
                            "handled" => "its handler".to_owned(),
                            "ignore" => "ignored (SIG_IGN)".to_owned(),
                            _ => "the default action".to_owned(),
                        }
                    ),
                )
                .close("circle");
            }
            StepWire::Exit {
                t: at,
                pid,
                comm,
                status,
                ..
            } => {
                let Some(i) = row_of(Some(*pid)) else {
                    continue;
                };
                let (x, y) = (scale.x(*at), row_y(i));
                h.open(
                    "rect",
                    &[
                        ("class", "mark exit"),
                        ("x", &f(x - 4.0)),
                        ("y", &f(y - 4.0)),
                        ("width", "8"),
                        ("height", "8"),
                        ("data-step", "exit"),
                        ("data-t", &format!("{at}")),
                    ],
                )
                .elem(
                    "title",
                    &[],
                    &format!("{at:+.3} s  {pid} ({comm}) {status}"),
                )
                .close("rect");
                // The status beside it, inside the plot.
                let (tx, anchor) = if x > X1 - 120.0 {
                    (x - 8.0, "end")
                } else {
                    (x + 8.0, "start")
                };
                h.open(
                    "text",
                    &[
                        ("class", "exit-label"),
                        ("x", &f(tx)),
                        ("y", &f(y - 6.0)),
                        ("text-anchor", anchor),
                    ],
                )
                .text(status)
                .close("text");
            }
            StepWire::Hook { .. } => {}
        }
    }
    h.close("svg");
}

/// A tick's time with as many decimals as its step needs: `3`, `0.5`, `0.0015`.
fn seconds_label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize + 1;
    trim_float(v, decimals)
}

/// `v` with `decimals` decimals, trailing zeros dropped: `3`, `0.5`, `-1.25`.
fn trim_float(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(3.2), 0.5);
        assert_eq!(tick_step(10.0), 2.0);
        assert_eq!(tick_step(0.05), 0.01);
        assert_eq!(seconds_label(2.5, 0.5), "2.5");
        assert_eq!(seconds_label(3.0, 0.5), "3");
        assert_eq!(seconds_label(-0.0, 0.5), "0");
        assert_eq!(seconds_label(0.0015, 0.0005), "0.0015");
        assert_eq!(seconds_label(0.002, 0.0005), "0.002");
        assert_eq!(seconds_label(20.0, 5.0), "20");
    }

    #[test]
    fn the_scale_maps_zero_and_the_grace_period() {
        let s = Scale { t0: -1.0, t1: 4.0 };
        assert_eq!(s.x(-1.0), X0);
        assert_eq!(s.x(4.0), X1);
        assert!((s.x(1.5) - (X0 + X1) / 2.0).abs() < 1e-9);
    }
}
