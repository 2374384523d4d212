//! Stream-table joins (inner, left) and `process` with a state store, through the
//! TopologyTestDriver.

use kstreams_core::{Processor, ProcessorContext, Record, Result, Serdes, Stores};
use kstreams_dsl::{Consumed, Materialized, Named, Produced, StreamsBuilder};
use kstreams_test_driver::TopologyTestDriver;

fn read(d: &TopologyTestDriver, topic: &str) -> Vec<(String, String, i64)> {
    d.output_topic::<String, String>(topic)
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn e(k: &str, v: &str, ts: i64) -> (String, String, i64) {
    (k.into(), v.into(), ts)
}

fn join_topology(filter_table: bool) -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    let clicks =
        b.stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()));
    let mut users = b.table::<String, String>(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("users-store"),
    );
    if filter_table {
        users = users.filter(|_k, region| region != "hidden");
    }
    clicks
        .join(
            &users,
            |click, region| format!("{click}@{region}"),
            Named::as_("inner"),
        )
        .to("inner-out", Produced::default());
    clicks
        .left_join(
            &users,
            |click, region| format!("{click}@{}", region.map_or("?", String::as_str)),
            Named::generated(),
        )
        .to("left-out", Produced::default());
    b.build().unwrap()
}

fn pipe_users(d: &TopologyTestDriver, k: &str, v: Option<&str>, ts: i64) {
    d.create_input_topic::<String, Option<String>>(
        "users",
        Serdes::string(),
        Serdes::option(Serdes::string()),
    )
    .pipe_input_with_timestamp(k.into(), v.map(str::to_string), ts);
}

#[test]
fn stream_table_inner_and_left_join() {
    let d = TopologyTestDriver::new(join_topology(false)).unwrap();
    let clicks = d.input_topic::<String, String>("clicks");
    clicks.pipe_input_with_timestamp("alice".into(), "c1".into(), 1); // no user yet
    pipe_users(&d, "alice", Some("eu"), 2); // table updates emit nothing
    clicks.pipe_input_with_timestamp("alice".into(), "c2".into(), 3);
    pipe_users(&d, "alice", Some("us"), 10);
    clicks.pipe_input_with_timestamp("alice".into(), "c3".into(), 4); // uses the latest table value
    pipe_users(&d, "alice", None, 11); // tombstone
    clicks.pipe_input_with_timestamp("alice".into(), "c4".into(), 12);
    assert_eq!(
        read(&d, "inner-out"),
        vec![e("alice", "c2@eu", 3), e("alice", "c3@us", 4)]
    );
    assert_eq!(
        read(&d, "left-out"),
        vec![
            e("alice", "c1@?", 1),
            e("alice", "c2@eu", 3),
            e("alice", "c3@us", 4),
            e("alice", "c4@?", 12),
        ]
    );
}

#[test]
fn join_reads_through_a_filtered_table_view() {
    let d = TopologyTestDriver::new(join_topology(true)).unwrap();
    let clicks = d.input_topic::<String, String>("clicks");
    pipe_users(&d, "bob", Some("hidden"), 1);
    clicks.pipe_input_with_timestamp("bob".into(), "c1".into(), 2);
    assert!(read(&d, "inner-out").is_empty());
    assert_eq!(read(&d, "left-out"), vec![e("bob", "c1@?", 2)]);
}

#[test]
fn join_declares_co_partitioning_and_repartitions_a_rekeyed_stream() {
    let b = StreamsBuilder::new();
    let users = b.table::<String, String>(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("users-store"),
    );
    b.stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .select_key(|_k, v| v.clone())
        .join(&users, |c, r| format!("{c}@{r}"), Named::as_("click-join"))
        .to("out", Produced::default());
    let t = b.build().unwrap();
    let built = t.build(Some("app")).unwrap();
    assert_eq!(
        built.internal_topics(),
        &["app-click-join-repartition".to_string()]
    );
    let groups = built.copartition_groups();
    assert!(
        groups
            .iter()
            .any(|g| g.contains(&"app-click-join-repartition".to_string())
                && g.contains(&"users".to_string())),
        "{groups:?}"
    );
    let d = TopologyTestDriver::new(t).unwrap();
    pipe_users(&d, "carol", Some("eu"), 1);
    d.input_topic::<String, String>("clicks")
        .pipe_input_with_timestamp("x".into(), "carol".into(), 5);
    assert_eq!(read(&d, "out"), vec![e("carol", "carol@eu", 5)]);
}

/// Emits the running count of each key, kept in the store "seen".
struct Dedup;

impl Processor<String, String, String, String> for Dedup {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<String, i64>("seen")?;
        let n = store.get(&r.key)?.unwrap_or(0) + 1;
        store.put(&r.key, &n)?;
        ctx.forward(r.clone().with_value(format!("{}#{n}", r.value)))
    }
}

#[test]
fn process_runs_a_processor_api_node_with_a_store() {
    let b = StreamsBuilder::new();
    b.add_state_store(Stores::in_memory_key_value_store_builder::<String, i64>(
        "seen",
    ));
    let out = b
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .process(|| Dedup, Named::as_("dedup"), &["seen"]);
    assert_eq!(out.node_name(), "dedup");
    out.to("out", Produced::default());
    let t = b.build().unwrap();
    assert!(format!("{}", t.describe().unwrap()).contains("(stores: [seen])"));
    let d = TopologyTestDriver::new(t).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("k".into(), "a".into(), 3);
    i.pipe_input_with_timestamp("k".into(), "b".into(), 1);
    assert_eq!(read(&d, "out"), vec![e("k", "a#1", 3), e("k", "b#2", 1)]);
}

#[test]
fn co_partitioning_of_joined_topics_is_validated_with_their_names() {
    let t = join_topology(false).build(Some("app")).unwrap();
    let err = t
        .validate_copartitioning(|topic| match topic {
            "clicks" => Some(6),
            "users" => Some(4),
            _ => None,
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clicks has 6") && err.contains("users has 4"),
        "{err}"
    );
    assert!(
        t.validate_copartitioning(|topic| (topic == "clicks" || topic == "users").then_some(4))
            .is_ok()
    );
}
