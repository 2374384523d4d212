//! Task identity.

use std::fmt;

/// A task: one sub-topology working on one partition of its input topics. Shown as `0_1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    /// The sub-topology.
    pub subtopology: u32,
    /// The partition.
    pub partition: i32,
}

impl TaskId {
    /// A task id.
    pub fn new(subtopology: u32, partition: i32) -> Self {
        TaskId {
            subtopology,
            partition,
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

impl std::str::FromStr for TaskId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('_')
            .ok_or_else(|| format!("invalid task id '{s}'"))?;
        Ok(TaskId {
            subtopology: a.parse().map_err(|_| format!("invalid task id '{s}'"))?,
            partition: b.parse().map_err(|_| format!("invalid task id '{s}'"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse() {
        let t = TaskId::new(2, 7);
        assert_eq!(t.to_string(), "2_7");
        assert_eq!("2_7".parse::<TaskId>().unwrap(), t);
        assert!("27".parse::<TaskId>().is_err());
        assert!("a_1".parse::<TaskId>().is_err());
    }
}
