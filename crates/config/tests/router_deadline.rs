//! `router.deadline_field_id`: the Zendesk field that receives the deadline
//! (issue 10 point 3).

mod common;

use common::env;
use common::load_from;

#[test]
fn the_deadline_field_is_optional_and_read_from_file_or_environment() {
    assert_eq!(load_from(None, &[]).unwrap().router.deadline_field_id, None);
    let config = load_from(Some("[router]\ndeadline_field_id = 360001\n"), &[]).unwrap();
    assert_eq!(config.router.deadline_field_id, Some(360_001));
    let config = load_from(None, &env(&[("INTAKE__ROUTER__DEADLINE_FIELD_ID", "42")])).unwrap();
    assert_eq!(config.router.deadline_field_id, Some(42));
}

#[test]
fn a_zero_or_negative_field_id_is_reported_with_its_key() {
    let errors = load_from(Some("[router]\ndeadline_field_id = 0\n"), &[]).unwrap_err();
    let problem = errors
        .for_key("router.deadline_field_id")
        .expect("reported");
    assert!(problem.message.contains("field id"), "{}", problem.message);
    let errors = load_from(Some("[router]\ndeadline_field_id = -5\n"), &[]).unwrap_err();
    assert!(
        errors.for_key("router.deadline_field_id").is_some(),
        "{errors}"
    );
}
