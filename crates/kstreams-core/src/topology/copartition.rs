//! Co-partitioning validation: joined topics must have the same number of partitions.

use super::ProcessorTopology;
use crate::error::TopologyError;

impl ProcessorTopology {
    /// Checks every co-partition group (the topics of a join) against the partition counts
    /// `partitions` reports. Topics it does not know (internal topics not created yet, which
    /// the runtime creates to match) are skipped. The error names every known topic of the
    /// first mismatched group with its count.
    pub fn validate_copartitioning(
        &self,
        partitions: impl Fn(&str) -> Option<i32>,
    ) -> Result<(), TopologyError> {
        for group in self.copartition_groups() {
            let known: Vec<(String, i32)> = group
                .iter()
                .filter_map(|t| partitions(t).map(|n| (t.clone(), n)))
                .collect();
            if known.windows(2).any(|w| w[0].1 != w[1].1) {
                return Err(TopologyError::NotCopartitioned(known));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::TopologyError;
    use crate::serde::Serdes;
    use crate::topology::Topology;

    fn joined() -> Topology {
        let mut t = Topology::new();
        for (s, topic) in [("s1", "a"), ("s2", "b")] {
            t.add_source::<String, String>(s, &[topic], Serdes::string(), Serdes::string())
                .unwrap();
        }
        t.add_internal_topic("x-repartition");
        t.add_source::<String, String>(
            "s3",
            &["x-repartition"],
            Serdes::string(),
            Serdes::string(),
        )
        .unwrap();
        t.add_copartition_group(&["a", "b", "x-repartition"]);
        t
    }

    #[test]
    fn equal_counts_pass_and_unknown_topics_are_skipped() {
        let p = joined().build(Some("app")).unwrap();
        assert!(
            p.validate_copartitioning(|t| (t != "app-x-repartition").then_some(4))
                .is_ok()
        );
        assert!(p.validate_copartitioning(|_| None).is_ok());
    }

    #[test]
    fn a_mismatch_names_the_topics_and_counts() {
        let p = joined().build(Some("app")).unwrap();
        let err = p
            .validate_copartitioning(|t| match t {
                "a" => Some(3),
                "b" => Some(2),
                _ => None,
            })
            .unwrap_err();
        assert_eq!(
            err,
            TopologyError::NotCopartitioned(vec![("a".into(), 3), ("b".into(), 2)])
        );
        assert!(err.to_string().contains("a has 3"), "{err}");
        assert!(err.to_string().contains("b has 2"), "{err}");
    }
}
