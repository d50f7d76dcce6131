//! The life of a package (docs/api.md, Cleanup rules and Stable links; docs/cli.md, rules):
//! cleanup rules over the API and the CLI against the real binary, the server's schedule,
//! the latest-file link and the lookup by sha256, with private owners.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::util::*;

fn rules_path(owner: &str) -> String {
    format!("/api/v1/packages/{owner}/-/rules")
}

/// Creates a rule over the API (201) and returns its id.
#[track_caller]
fn add_rule(srv: &TestServer, cred: &Cred, owner: &str, body: &str) -> u64 {
    let r = srv.send(Request::json("POST", &rules_path(owner), body).auth(cred));
    r.expect(201);
    r.json()["id"].as_u64().unwrap_or_else(|| panic!("no id\n{r}"))
}

#[track_caller]
fn delete_rule(srv: &TestServer, cred: &Cred, owner: &str, id: u64) {
    srv.send(Request::delete(&format!("{}/{id}", rules_path(owner))).auth(cred)).expect(204);
}

/// The API preview of rule `id` as a set of "package/version".
#[track_caller]
fn preview(srv: &TestServer, cred: &Cred, owner: &str, id: u64) -> BTreeSet<String> {
    let r = srv.send(Request::get(&format!("{}/{id}/preview", rules_path(owner))).auth(cred));
    r.expect(200);
    let items = r.json().as_array().cloned().unwrap_or_else(|| panic!("not an array\n{r}"));
    let count = items.len().to_string();
    eqnice!(Some(count.as_str()), r.header("X-Total-Count"), format!("{r}"));
    items
        .iter()
        .map(|p| format!("{}/{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The CLI's `PACKAGE<TAB>VERSION` lines as "package/version".
fn lines_as_set(out: &CmdOutput) -> BTreeSet<String> {
    out.stdout_lines().iter().map(|l| l.replacen('\t', "/", 1)).collect()
}

/// The number of versions of a generic package (X-Total-Count), 0 when it is gone.
#[track_caller]
fn version_count(srv: &TestServer, cred: &Cred, owner: &str, pkg: &str) -> u64 {
    let r = srv.send(Request::get(&api_version_path(owner, pkg, None)).auth(cred));
    if r.status == 404 {
        return 0;
    }
    r.expect(200);
    r.header("X-Total-Count").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no count\n{r}"))
}

/// Keep count, keep pattern, remove pattern (anchored, ignoring case), full-name matching and
/// the package type, each previewed over the API; then an apply through the CLI removes
/// exactly what the preview listed, through the delete path (versions gone, usage down).
#[test]
fn rule_semantics_and_preview_equals_apply() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-pw", false);
    let tok = Cred::token(&srv.token("alice", "write"));
    for v in ["1.0", "1.1", "1.2", "2.0-nightly", "2.1-nightly", "2.2-nightly"] {
        srv.upload(&tok, "alice", "app", v, "a.bin", format!("app {v}").as_bytes()).expect(201);
    }
    for v in ["1.0", "1.0-nightly"] {
        srv.upload(&tok, "alice", "tool", v, "t.bin", format!("tool {v}").as_bytes()).expect(201);
    }
    let cases: [(&str, &[&str]); 7] = [
        (r#"{"type":"generic","keep_count":2}"#, &["app/1.0", "app/1.1", "app/1.2", "app/2.0-nightly"]),
        (
            r#"{"type":"generic","keep_count":1,"remove_pattern":".*-NIGHTLY"}"#,
            &["app/2.0-nightly", "app/2.1-nightly"],
        ),
        (
            r#"{"type":"generic","keep_pattern":"1\\..*"}"#,
            &["app/2.0-nightly", "app/2.1-nightly", "app/2.2-nightly"],
        ),
        (
            r#"{"type":"generic","remove_pattern":"tool/.*","match_full_name":true}"#,
            &["tool/1.0", "tool/1.0-nightly"],
        ),
        (r#"{"type":"generic","remove_pattern":"tool/.*"}"#, &[]),
        // Anchored: "1" is not "1.0".
        (r#"{"type":"generic","remove_pattern":"1"}"#, &[]),
        // A rule of one type never touches packages of the other.
        (r#"{"type":"go"}"#, &[]),
    ];
    for (body, want) in cases {
        let id = add_rule(&srv, &alice, "alice", body);
        eqnice!(set(want), preview(&srv, &alice, "alice", id), body);
        delete_rule(&srv, &alice, "alice", id);
    }
    // Nothing was removed by the previews.
    eqnice!(6, version_count(&srv, &alice, "alice", "app"), "");

    let before = srv.cli(&["quota", "show", "alice"], None);
    before.expect_ok();
    let id =
        add_rule(&srv, &alice, "alice", r#"{"type":"generic","keep_count":1,"remove_pattern":".*nightly"}"#);
    let shown = srv.cli(&["rules", "preview", "alice", &id.to_string()], None);
    shown.expect_ok();
    eqnice!(set(&["app/2.0-nightly", "app/2.1-nightly", "tool/1.0"]).len(), 3, "");
    let want = set(&["app/2.0-nightly", "app/2.1-nightly"]);
    eqnice!(want, lines_as_set(&shown), format!("{shown}"));
    eqnice!(want, preview(&srv, &alice, "alice", id), "");
    let applied = srv.cli(&["rules", "apply", "alice", &id.to_string()], None);
    applied.expect_ok();
    eqnice!(shown.stdout(), applied.stdout(), "apply prints what preview printed");
    for v in ["2.0-nightly", "2.1-nightly"] {
        srv.download(&alice, "alice", "app", v, "a.bin").expect(404);
    }
    srv.download(&alice, "alice", "app", "2.2-nightly", "a.bin").expect(200).expect_body(b"app 2.2-nightly");
    eqnice!(4, version_count(&srv, &alice, "alice", "app"), "");
    let after = srv.cli(&["quota", "show", "alice"], None);
    after.expect_ok();
    let versions =
        |out: &CmdOutput| -> u64 { out.stdout().split('\t').nth(3).unwrap().trim().parse().unwrap() };
    eqnice!(versions(&before) - 2, versions(&after), format!("{before}\n{after}"));
    assert!(preview(&srv, &alice, "alice", id).is_empty(), "nothing left for the rule");
    // The whole database still adds up after removals through the rules.
    srv.cli(&["verify"], None).expect_ok();
}

/// `remove_days`: versions published ten days ago (the server's clock moved back for them)
/// are old enough for a 5-day rule and not for an 11-day one; 0 means any age.
#[test]
fn rules_by_age() {
    let mut srv = TestServer::start_setup(
        TestDb::new(),
        ServeSetup::default().env("DEPOT_TEST_CLOCK_OFFSET", "-864000"),
    );
    let alice = srv.add_user("alice", "alice-pw", false);
    for v in ["old-1", "old-2"] {
        srv.upload(&alice, "alice", "app", v, "f", v.as_bytes()).expect(201);
    }
    srv.set_env("DEPOT_TEST_CLOCK_OFFSET", "0");
    srv.terminate();
    srv.restart();
    srv.upload(&alice, "alice", "app", "new-1", "f", b"new").expect(201);
    for (days, want) in [
        (5, &["app/old-1", "app/old-2"][..]),
        (11, &[][..]),
        (0, &["app/old-1", "app/old-2", "app/new-1"][..]),
    ] {
        let id = add_rule(&srv, &alice, "alice", &format!(r#"{{"type":"generic","remove_days":{days}}}"#));
        eqnice!(set(want), preview(&srv, &alice, "alice", id), format!("remove_days {days}"));
        delete_rule(&srv, &alice, "alice", id);
    }
    // The CLI flags make the same rule.
    let out = srv.cli(
        &["rules", "add", "alice", "--type", "generic", "--remove-days", "5", "--keep-pattern", "OLD-2"],
        None,
    );
    out.expect_ok();
    let id = out.stdout().trim().to_string();
    assert!(id.parse::<u64>().is_ok(), "rules add prints the id\n{out}");
    let listed = srv.cli(&["rules", "list", "alice"], None);
    listed.expect_ok();
    eqnice!(format!("{id}\tgeneric\tenabled\t0\tOLD-2\t5\t\tversion\n"), listed.stdout(), "");
    let applied = srv.cli(&["rules", "apply", "alice"], None);
    applied.expect_ok();
    eqnice!("app\told-1\n", applied.stdout(), "");
    eqnice!(2, version_count(&srv, &alice, "alice", "app"), "");
}

/// Every version is considered, however many: 3,000 versions of one package, keep the
/// newest 10. Preview (API and CLI) lists the 2,990 others and the apply removes exactly them.
#[test]
fn thousands_of_versions_are_all_considered() {
    const N: usize = 3000;
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-pw", false);
    let tok = Cred::token(&srv.token("alice", "write"));
    // Published in order (the newest is the last), eight at a time within a round.
    let started = Instant::now();
    for round in (0..N).collect::<Vec<_>>().chunks(8) {
        std::thread::scope(|s| {
            for &i in round {
                let (srv, tok) = (&srv, &tok);
                s.spawn(move || {
                    srv.upload(tok, "alice", "nightly", &format!("{i:05}"), "f", b"x").expect(201);
                });
            }
        });
    }
    eprintln!("published {N} versions in {:?}", started.elapsed());
    let id = add_rule(&srv, &alice, "alice", r#"{"type":"generic","keep_count":10}"#);
    let previewed = preview(&srv, &alice, "alice", id);
    eqnice!(N - 10, previewed.len(), "");
    let shown = srv.cli(&["rules", "preview", "alice", &id.to_string()], None);
    shown.expect_ok();
    eqnice!(previewed, lines_as_set(&shown), "");
    let started = Instant::now();
    let applied = srv.cli(&["rules", "apply", "alice", &id.to_string()], None);
    applied.expect_ok();
    eprintln!("removed {} versions in {:?}", N - 10, started.elapsed());
    eqnice!(previewed, lines_as_set(&applied), "");
    eqnice!(10, version_count(&srv, &alice, "alice", "nightly"), "");
    // The ten kept are the ten newest (rounds publish in order, so the last rounds' versions).
    let kept = srv
        .send(Request::get(&format!("{}?limit=50", api_version_path("alice", "nightly", None))).auth(&alice));
    let kept: BTreeSet<String> =
        kept.json().as_array().unwrap().iter().map(|p| p["version"].as_str().unwrap().to_string()).collect();
    let newest_round: BTreeSet<String> = (N - 8..N).map(|i| format!("{i:05}")).collect();
    assert!(newest_round.is_subset(&kept), "{kept:?}");
}

/// The server applies enabled rules on its own every --cleanup-interval; a disabled rule is
/// left alone by the schedule (and still previews, asked for by id).
#[test]
fn the_schedule_applies_enabled_rules_without_a_request() {
    let srv = TestServer::start_with(&["--cleanup-interval", "1s"]);
    let alice = srv.add_user("alice", "alice-pw", false);
    let bob = srv.add_user("bob", "bob-pw", false);
    for v in ["1", "2", "3"] {
        srv.upload(&alice, "alice", "app", v, "f", v.as_bytes()).expect(201);
        srv.upload(&bob, "bob", "app", v, "f", v.as_bytes()).expect(201);
    }
    add_rule(&srv, &alice, "alice", r#"{"type":"generic","keep_count":1}"#);
    let off = add_rule(&srv, &bob, "bob", r#"{"type":"generic","keep_count":1,"enabled":false}"#);
    let deadline = Instant::now() + Duration::from_secs(30);
    while version_count(&srv, &alice, "alice", "app") != 1 {
        assert!(Instant::now() < deadline, "the schedule never removed anything\n{}", srv.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    srv.download(&alice, "alice", "app", "3", "f").expect(200);
    assert!(srv.wait_for_log("cleanup rule removed versions"), "{}", srv.log());
    std::thread::sleep(Duration::from_millis(2500));
    eqnice!(3, version_count(&srv, &bob, "bob", "app"), "a disabled rule is not scheduled");
    eqnice!(set(&["app/1", "app/2"]), preview(&srv, &bob, "bob", off), "");
    let listed = srv.send(Request::get(&rules_path("bob")).auth(&bob));
    listed.expect(200);
    eqnice!(Some(false), listed.json()[0]["enabled"].as_bool(), format!("{listed}"));
}

/// A bad rule is refused with the reason (400), nothing stored; one rule per type (409);
/// everything about rules needs write access to the owner.
#[test]
fn rules_are_checked_and_need_write_access() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-pw", false);
    let carol = srv.add_private_user("carol", "carol-pw");
    let bob = srv.add_user("bob", "bob-pw", false);
    srv.add_org("acme", false);
    srv.add_member("acme", "bob", "read");
    let read_tok = Cred::token(&srv.token("alice", "read"));
    for (body, why) in [
        (
            r#"{"type":"generic","remove_pattern":"("}"#,
            "remove_pattern \"(\" is not a valid regular expression",
        ),
        (
            r#"{"type":"generic","keep_pattern":"[z-a]"}"#,
            "keep_pattern \"[z-a]\" is not a valid regular expression",
        ),
        (r#"{"type":"npm"}"#, "type must be generic or go"),
        (r#"{"type":"generic","keepcount":3}"#, "keepcount"),
        (r#"{"keep_count":3}"#, "type"),
        (r#"{"type":"generic","keep_count":-1}"#, "expected u64"),
    ] {
        let r = srv.send(Request::json("POST", &rules_path("alice"), body).auth(&alice));
        r.expect(400);
        assert!(r.text().contains(why) && r.text().trim_end().lines().count() == 1, "{body}: {r}");
    }
    let out = srv.cli(&["rules", "add", "alice", "--type", "go", "--keep-pattern", "v1.("], None);
    out.expect_failure();
    assert!(out.stderr().contains("keep_pattern \"v1.(\" is not a valid regular expression"), "{out}");
    eqnice!("", srv.cli(&["rules", "list", "alice"], None).stdout(), "nothing stored");

    let id = add_rule(&srv, &alice, "alice", r#"{"type":"generic","keep_count":3}"#);
    let again = srv.send(Request::json("POST", &rules_path("alice"), r#"{"type":"generic"}"#).auth(&alice));
    again.expect(409);
    assert!(again.text().contains(&format!("(id {id})")), "{again}");

    let rule = format!("{}/{id}", rules_path("alice"));
    let previewed = format!("{rule}/preview");
    // Anonymous: 401 on a public owner and on a private one.
    srv.send(Request::get(&rules_path("alice"))).expect_401();
    srv.send(Request::get(&previewed)).expect_401();
    srv.send(Request::json("POST", &rules_path("carol"), r#"{"type":"go"}"#)).expect_401();
    srv.send(Request::get(&rules_path("carol"))).expect_401();
    // Another user: 403 on a public owner, 404 on a private one (as if it did not exist).
    srv.send(Request::get(&rules_path("alice")).auth(&bob)).expect(403);
    srv.send(Request::get(&previewed).auth(&bob)).expect(403);
    srv.send(Request::json("POST", &rules_path("alice"), r#"{"type":"go"}"#).auth(&bob)).expect(403);
    srv.send(Request::delete(&rule).auth(&bob)).expect(403);
    srv.send(Request::get(&rules_path("carol")).auth(&bob)).expect(404);
    // A read token of the owner, and an organization member with read: 403.
    srv.send(Request::get(&previewed).auth(&read_tok)).expect(403);
    srv.send(Request::json("POST", &rules_path("alice"), r#"{"type":"go"}"#).auth(&read_tok)).expect(403);
    srv.send(Request::json("POST", &rules_path("acme"), r#"{"type":"go"}"#).auth(&bob)).expect(403);
    srv.send(Request::get(&rules_path("acme")).auth(&bob)).expect(403);
    // The owner.
    srv.send(Request::get(&rules_path("carol")).auth(&carol)).expect(200).expect_body(b"[]\n");
    let listed = srv.send(Request::get(&rules_path("alice")).auth(&alice));
    listed.expect(200);
    let r = &listed.json()[0];
    eqnice!(Some(id), r["id"].as_u64(), "");
    eqnice!(Some("generic"), r["type"].as_str(), "");
    eqnice!(Some(3), r["keep_count"].as_u64(), "");
    eqnice!(Some(true), r["enabled"].as_bool(), "");
    eqnice!(Some(""), r["keep_pattern"].as_str(), "");
    eqnice!(Some(0), r["remove_days"].as_u64(), "");
    eqnice!(Some(""), r["remove_pattern"].as_str(), "");
    eqnice!(Some(false), r["match_full_name"].as_bool(), "");
    srv.send(Request::get(&format!("{}/999999/preview", rules_path("alice"))).auth(&alice)).expect(404);
    srv.send(Request::get(&format!("{}/x/preview", rules_path("alice"))).auth(&alice)).expect(404);
    srv.send(Request::delete(&format!("{}/999999", rules_path("alice"))).auth(&alice)).expect(404);
    let gone = srv.cli(&["rules", "delete", "alice", "999999"], None);
    gone.expect_failure();
    assert!(gone.stderr().contains("alice has no cleanup rule 999999"), "{gone}");
    srv.send(Request::delete(&rule).auth(&alice)).expect(204);
    srv.send(Request::delete(&rule).auth(&alice)).expect(404);
}

fn latest_path(owner: &str, pkg: &str, file: &str) -> String {
    format!("/api/packages/{owner}/generic/{pkg}/-/latest/{}", enc(file))
}

/// The latest-file link answers the newest version that has the file, like the versioned
/// download (headers, Range, conditional requests, HEAD), with Content-Location naming it;
/// a private owner's link follows the read rule.
#[test]
fn the_latest_file_link() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-pw", false);
    let carol = srv.add_private_user("carol", "carol-pw");
    let bob = srv.add_user("bob", "bob-pw", false);
    srv.upload(&alice, "alice", "app", "1.0", "app.tgz", b"one").expect(201);
    srv.upload(&alice, "alice", "app", "1.0", "notes v1.txt", b"notes of one").expect(201);
    srv.upload(&alice, "alice", "app", "2.0", "app.tgz", b"two!").expect(201);

    let r = srv.send(Request::get(&latest_path("alice", "app", "app.tgz")));
    r.expect(200).expect_body(b"two!");
    r.expect_header("Content-Location", "/api/packages/alice/generic/app/2.0/app.tgz");
    let versioned = srv.send(Request::get(&file_path("alice", "app", "2.0", "app.tgz")));
    for h in [
        "ETag",
        "Last-Modified",
        "Content-Type",
        "Content-Length",
        "Content-Disposition",
        "X-Checksum-Sha256",
        "Accept-Ranges",
    ] {
        eqnice!(versioned.header(h), r.header(h), h);
    }
    // Only an older version has it: that one, named in Content-Location.
    let notes = srv.send(Request::get(&latest_path("alice", "APP", "NOTES V1.txt")));
    notes.expect(200).expect_body(b"notes of one");
    notes.expect_header("Content-Location", "/api/packages/alice/generic/app/1.0/notes%20v1.txt");
    let head = srv.send(Request::head(&latest_path("alice", "app", "app.tgz")));
    head.expect(200).expect_header("Content-Length", "4").expect_body(b"");
    head.expect_header("Content-Location", "/api/packages/alice/generic/app/2.0/app.tgz");
    srv.send(Request::get(&latest_path("alice", "app", "app.tgz")).header("Range", "bytes=1-2"))
        .expect(206)
        .expect_body(b"wo");
    let etag = r.header("ETag").unwrap().to_string();
    srv.send(Request::get(&latest_path("alice", "app", "app.tgz")).header("If-None-Match", &etag))
        .expect(304);
    // A newer version takes over.
    srv.upload(&alice, "alice", "app", "3.0", "app.tgz", b"three").expect(201);
    srv.send(Request::get(&latest_path("alice", "app", "app.tgz"))).expect(200).expect_body(b"three");
    let stale =
        srv.send(Request::get(&latest_path("alice", "app", "app.tgz")).header("If-None-Match", &etag));
    stale.expect(200);
    // Missing file, package, owner: 404 naming it.
    let missing = srv.send(Request::get(&latest_path("alice", "app", "nope.tgz")));
    missing.expect(404);
    assert!(
        missing.text().contains("no version of generic package alice/app has a file \"nope.tgz\""),
        "{missing}"
    );
    srv.send(Request::get(&latest_path("alice", "nope", "app.tgz"))).expect(404);
    srv.send(Request::get(&latest_path("nobody", "app", "app.tgz"))).expect(404);
    // Private owner.
    srv.upload(&carol, "carol", "secret", "1", "s.bin", b"secret").expect(201);
    srv.send(Request::get(&latest_path("carol", "secret", "s.bin"))).expect_401();
    let other = srv.send(Request::get(&latest_path("carol", "secret", "s.bin")).auth(&bob));
    other.expect(404);
    assert!(!other.text().contains("secret"), "{other}");
    srv.send(Request::get(&latest_path("carol", "secret", "s.bin")).auth(&carol))
        .expect(200)
        .expect_body(b"secret");
}

/// The lookup by sha256 lists every file of the owner with that content, in the Gitea
/// shapes; a private owner's files only for those who may read them; bad hex is a 400.
#[test]
fn lookup_by_sha256() {
    let srv = TestServer::start();
    let alice = srv.add_user("alice", "alice-pw", false);
    let carol = srv.add_private_user("carol", "carol-pw");
    let bob = srv.add_user("bob", "bob-pw", false);
    let content = b"the same bytes";
    let sha = sha256_hex(content);
    srv.upload(&alice, "alice", "app", "1.0", "a.bin", content).expect(201);
    srv.upload(&alice, "alice", "other", "7", "copy.bin", content).expect(201);
    srv.upload(&alice, "alice", "app", "1.0", "b.bin", b"different").expect(201);
    srv.upload(&carol, "carol", "secret", "1", "c.bin", content).expect(201);
    let path = |owner: &str, hex: &str| format!("/api/v1/packages/{owner}/-/sha256/{hex}");

    let r = srv.send(Request::get(&path("alice", &sha)));
    r.expect(200).expect_header("X-Total-Count", "2");
    let found = r.json().as_array().cloned().unwrap();
    let got: BTreeSet<String> = found
        .iter()
        .map(|f| {
            format!(
                "{}/{}/{}",
                f["package"]["name"].as_str().unwrap(),
                f["package"]["version"].as_str().unwrap(),
                f["file"]["name"].as_str().unwrap()
            )
        })
        .collect();
    eqnice!(set(&["app/1.0/a.bin", "other/7/copy.bin"]), got, "");
    for f in &found {
        eqnice!(Some(sha.as_str()), f["file"]["sha256"].as_str(), "");
        eqnice!(Some(content.len() as u64), f["file"]["size"].as_u64(), "");
        eqnice!(Some("generic"), f["package"]["type"].as_str(), "");
        eqnice!(Some("alice"), f["package"]["owner"]["login"].as_str(), "");
        assert!(f["package"]["id"].as_u64().is_some() && f["file"]["id"].as_u64().is_some(), "{r}");
    }
    // The same Package as the version endpoint answers.
    let version = srv.send(Request::get(&api_version_path("alice", "app", Some("1.0"))));
    let from_lookup = found.iter().find(|f| f["package"]["name"].as_str() == Some("app")).unwrap();
    let version = version.json();
    eqnice!(version["id"].as_u64(), from_lookup["package"]["id"].as_u64(), "");
    eqnice!(version["html_url"].as_str(), from_lookup["package"]["html_url"].as_str(), "");
    // Paged like every list.
    let page = srv.send(Request::get(&format!("{}?limit=1&page=2", path("alice", &sha.to_uppercase()))));
    page.expect(200).expect_header("X-Total-Count", "2");
    eqnice!(1, page.json().as_array().unwrap().len(), "");
    // Nothing else of another owner: carol's copy is not alice's.
    srv.send(Request::get(&path("alice", &sha256_hex(b"nothing has this")))).expect(200).expect_body(b"[]\n");
    // Private owner: anonymous 401, another user 404, the owner sees it.
    srv.send(Request::get(&path("carol", &sha))).expect_401();
    srv.send(Request::get(&path("carol", &sha)).auth(&bob)).expect(404);
    let own = srv.send(Request::get(&path("carol", &sha)).auth(&carol));
    own.expect(200).expect_header("X-Total-Count", "1");
    let own = own.json();
    eqnice!(Some("c.bin"), own[0]["file"]["name"].as_str(), "");
    // Bad hex.
    for bad in ["abc", &sha[..63], &format!("{}g", &sha[..63]), &format!("+{}", &sha[1..])] {
        let r = srv.send(Request::get(&path("alice", bad)));
        r.expect(400);
        assert!(r.text().contains("is not a sha256"), "{bad}: {r}");
    }
    // Deletes take files out of the index, in the same transaction.
    srv.send(Request::delete(&file_path("alice", "other", "7", "copy.bin")).auth(&alice)).expect(204);
    srv.send(Request::get(&path("alice", &sha))).expect(200).expect_header("X-Total-Count", "1");
    srv.send(Request::delete(&version_path("alice", "app", "1.0")).auth(&alice)).expect(204);
    srv.send(Request::get(&path("alice", &sha))).expect(200).expect_body(b"[]\n");
    srv.cli(&["verify"], None).expect_ok();
}
