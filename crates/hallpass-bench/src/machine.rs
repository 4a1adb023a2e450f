//! The machine a run happened on, for the report: core count, CPU model, kernel, load.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    /// `/proc/loadavg`'s first three fields when the run started (others compiling shows here).
    pub loadavg: String,
    pub mem_total: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, m)| m.trim().to_string());
        let first_line = |path: &str| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let loadavg = first_line("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .map(|m| m.trim().to_string())
            .unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            kernel: first_line("/proc/sys/kernel/osrelease"),
            loadavg,
            mem_total,
        }
    }

    pub fn markdown(&self) -> String {
        format!(
            "- cores (nproc): {}\n- CPU: {}\n- memory: {}\n- kernel: {}\n- load average at start (1/5/15 min): {}\n",
            self.nproc, self.cpu_model, self.mem_total, self.kernel, self.loadavg
        )
    }
}
