"""Loading workflow files: every bad-file case is reported, naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from napflow.errors import InvalidDefinition
from napflow.workflow.definition import load_definition

GOOD = """
[workflow]
name = "law"
version = 1
initial = "drafting"

[roles]
author = "Writes the draft"
minister = "Signs it"

[states.drafting]
[states.review]
[states.signed]
final = true

[[transitions]]
trigger = "submit"
source = "drafting"
dest = "review"
roles = ["author"]

[[transitions]]
trigger = "remark"
source = "review"
stay = true
roles = ["minister"]

[[transitions]]
trigger = "sign"
source = "review"
dest = "signed"
roles = ["minister"]
conditions = [{ name = "quorum", role = "minister", trigger = "remark", min = 1 }]

[[transitions]]
trigger = "send_back"
source = "review"
dest = "drafting"
roles = ["minister"]
conditions = ["comment_required"]
"""


def write(tmp_path: Path, text: str, name: str = "law.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, name: str = "law.toml") -> list[str]:
    with pytest.raises(InvalidDefinition) as info:
        load_definition(write(tmp_path, text, name))
    return info.value.problems


def test_mail_names_a_template_folder_beside_the_file_and_a_translated_signature(
    tmp_path: Path,
) -> None:
    (tmp_path / "mails").mkdir()
    text = GOOD + (
        '[mail]\ntemplates = "mails"\nsignature = "The secretariat"\n'
        'signatures = { ru = "Секретариат" }\n'
    )
    mail = load_definition(write(tmp_path, text)).mail
    assert mail.templates == (tmp_path / "mails").resolve()
    assert (mail.signature_in("en"), mail.signature_in("ru")) == ("The secretariat", "Секретариат")
    assert load_definition(write(tmp_path, GOOD)).mail.signature_in("ru") is None


def test_manage_roles_names_who_may_change_roles_and_defaults_to_nobody(tmp_path: Path) -> None:
    assert load_definition(write(tmp_path, GOOD)).manage_roles == ()
    named = GOOD.replace('initial = "drafting"', 'initial = "drafting"\nmanage_roles = "author"')
    assert load_definition(write(tmp_path, named)).manage_roles == ("author",)


def test_good_file_loads_with_its_states_roles_and_transitions(tmp_path: Path) -> None:
    definition = load_definition(write(tmp_path, GOOD))
    assert definition.name == "law"
    assert definition.state_names == ("drafting", "review", "signed")
    assert definition.role_names == ("author", "minister")
    assert definition.triggers == ("submit", "remark", "sign", "send_back")
    assert definition.transition_for("review", "remark").stays
    assert definition.is_final("signed")


BAD_CASES = {
    "unknown state in dest": (
        GOOD.replace('dest = "review"', 'dest = "reveiw"'),
        "law.toml: transitions[0] (submit).dest: unknown state 'reveiw'",
    ),
    "unknown state in source": (
        GOOD.replace('source = "drafting"', 'source = "draft"'),
        "law.toml: transitions[0] (submit).source: unknown state 'draft'",
    ),
    "unreachable state": (
        GOOD.replace("[states.signed]", "[states.limbo]\n[states.signed]"),
        "law.toml: states.limbo: unreachable from the initial state 'drafting'",
    ),
    "no final state": (
        GOOD.replace("final = true", "final = false"),
        "law.toml: states: no final state",
    ),
    "non-final state with no way out": (
        GOOD.replace("[states.signed]", "[states.stuck]\n[states.signed]").replace(
            'trigger = "send_back"\nsource = "review"\ndest = "drafting"',
            'trigger = "send_back"\nsource = "review"\ndest = "stuck"',
        ),
        "law.toml: states.stuck: non-final state with no way out",
    ),
    "duplicate trigger from one state": (
        GOOD + '\n[[transitions]]\ntrigger = "sign"\nsource = "review"\ndest = "drafting"\n'
        'roles = ["author"]\n',
        "law.toml: transitions (sign): trigger 'sign' is defined twice from state 'review'",
    ),
    "a role named admin": (
        GOOD.replace('minister = "Signs it"', 'minister = "Signs it"\nadmin = "Runs it"'),
        "law.toml: roles.admin: 'admin' is napflow's own",
    ),
    "unknown role": (
        GOOD.replace('roles = ["author"]', 'roles = ["auther"]'),
        "law.toml: transitions[0] (submit).roles: unknown role 'auther'",
    ),
    "unknown condition": (
        GOOD.replace('"comment_required"', '"comment_needed"'),
        "law.toml: transitions[3] (send_back).conditions[0]: unknown condition 'comment_needed'",
    ),
    "condition with an unknown role": (
        GOOD.replace('role = "minister", trigger', 'role = "ministre", trigger'),
        "law.toml: transitions[2] (sign).conditions[0]: unknown role 'ministre'",
    ),
    "condition with a missing parameter": (
        GOOD.replace('"comment_required"', '{ name = "role_assigned" }'),
        "law.toml: transitions[3] (send_back).conditions[0]: condition 'role_assigned' needs "
        "parameter(s) role",
    ),
    "trigger clashing with the engine's names": (
        GOOD.replace('trigger = "submit"', 'trigger = "state"'),
        "law.toml: transitions[0].trigger: 'state' clashes with a name the engine uses",
    ),
    "trigger with an engine prefix": (
        GOOD.replace('trigger = "submit"', 'trigger = "to_review"'),
        "law.toml: transitions[0].trigger: 'to_review' clashes with a name the engine uses",
    ),
    "transition out of a final state": (
        GOOD + '\n[[transitions]]\ntrigger = "reopen"\nsource = "signed"\ndest = "drafting"\n'
        'roles = ["author"]\n',
        "law.toml: transitions[4] (reopen).source: 'signed' is final",
    ),
    "initial state unknown": (
        GOOD.replace('initial = "drafting"', 'initial = "start"'),
        "law.toml: workflow.initial: must name one of the states, not 'start'",
    ),
    "name not matching the file": (
        GOOD.replace('name = "law"', 'name = "statute"'),
        "law.toml: workflow.name: 'statute' must match the file name ('law')",
    ),
    "unknown key in a transition": (
        GOOD.replace('dest = "review"', 'dest = "review"\nwho = "author"'),
        "law.toml: transitions[0].who: unknown key",
    ),
    "both dest and stay": (
        GOOD.replace('dest = "review"', 'dest = "review"\nstay = true'),
        "law.toml: transitions[0] (submit): give either dest or stay = true, not both",
    ),
    "manage_roles naming an unknown role": (
        GOOD.replace('initial = "drafting"', 'initial = "drafting"\nmanage_roles = ["clerk"]'),
        "law.toml: workflow.manage_roles: unknown role 'clerk' (roles: author, minister)",
    ),
    "manage_deadlines naming an unknown role": (
        GOOD.replace('initial = "drafting"', 'initial = "drafting"\nmanage_deadlines = ["clerk"]'),
        "law.toml: workflow.manage_deadlines: unknown role 'clerk' (roles: author, minister)",
    ),
    "manage_roles not a list of roles": (
        GOOD.replace('initial = "drafting"', 'initial = "drafting"\nmanage_roles = 3'),
        'law.toml: workflow.manage_roles: must list roles, e.g. ["coordinator"], not 3',
    ),
    "a mail template folder that is not there": (
        GOOD + '[mail]\ntemplates = "mails"\n',
        "law.toml: mail.templates: 'mails' is not a folder next to law.toml",
    ),
    "a mail signature translated but not given": (
        GOOD + '[mail]\nsignatures = { ru = "Секретариат" }\n',
        "law.toml: mail.signatures: translate a signature: give mail.signature too",
    ),
    "an unknown key in [mail]": (
        GOOD + '[mail]\nsender = "x@example.org"\n',
        "law.toml: mail.sender: unknown key (accepted: signature, signatures, templates)",
    ),
    "urgent that is not true or false": (
        GOOD + '[[notices]]\non = ["sign"]\nto = ["author"]\nurgent = "yes"\n',
        "law.toml: notices[0].urgent: must be true or false, not 'yes'",
    ),
    "not TOML at all": ("[workflow\nname=", "law.toml: not valid TOML"),
    "trigger name with a trailing newline": (
        GOOD.replace('trigger = "submit"', 'trigger = "submit\\n"'),
        "law.toml: transitions[0].trigger: must be a lower-case identifier",
    ),
    "a list where a state name belongs": (
        GOOD.replace('dest = "review"', 'dest = ["review"]').replace(
            'initial = "drafting"', 'initial = ["drafting"]'
        ),
        "law.toml: transitions[0] (submit).dest: unknown state ['review']",
    ),
    "a list where a deadline's states belong": (
        GOOD
        + '[deadlines.due]\ntype = "date"\nmet_by_state = ["review"]\n'
        + '[deadlines.window]\ntype = "relative"\ndays = 3\nstart_on_entering = {}\n',
        "law.toml: deadlines.due.met_by_state: unknown state ['review']",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_each_bad_file_case_is_named_with_file_and_key(tmp_path: Path, case: str) -> None:
    text, expected = BAD_CASES[case]
    problems = problems_of(tmp_path, text)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace('dest = "review"', 'dest = "reveiw"')
        .replace('roles = ["author"]', 'roles = ["auther"]')
        .replace("final = true", "final = false")
    )
    problems = problems_of(tmp_path, text)
    assert any("unknown state 'reveiw'" in p for p in problems)
    assert any("unknown role 'auther'" in p for p in problems)
    assert any("no final state" in p for p in problems)


def test_a_file_that_cannot_be_read_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidDefinition) as info:
        load_definition(tmp_path / "missing.toml")
    assert "missing.toml: cannot be read" in str(info.value)


def test_source_star_means_every_non_final_state(tmp_path: Path) -> None:
    text = GOOD + (
        '\n[states.withdrawn]\nfinal = true\n\n[[transitions]]\ntrigger = "withdraw"\n'
        'source = "*"\ndest = "withdrawn"\nroles = ["author"]\n'
    )
    definition = load_definition(write(tmp_path, text))
    assert definition.transition_for("drafting", "withdraw") is not None
    assert definition.transition_for("review", "withdraw") is not None
    assert definition.transition_for("signed", "withdraw") is None


def test_a_renamed_state_is_one_mistake_not_a_cascade(tmp_path: Path) -> None:
    """The NAP file with one state renamed where it is declared only: every use of the old
    name is one problem (where first used, then the other places and the states there are),
    and nothing that follows from it is reported: not the triggers of the transitions that
    name it, not the states reached through it. What is left is the renamed state, which
    nothing reaches: the hint that a rename is half done."""
    nap = (Path(__file__).parents[1] / "workflows" / "nap.toml").read_text(encoding="utf-8")
    assert nap.count("[states.working_group_review]") == 1
    text = nap.replace("[states.working_group_review]", "[states.wg_review]")
    problems = problems_of(tmp_path, text, "nap.toml")
    assert problems == [
        "nap.toml: transitions[0] (submit_for_review).dest: unknown state "
        "'working_group_review'; also used by transitions[1] (endorse).source, "
        "transitions[2] (request_changes).source, transitions[3] (send_to_experts).source, "
        "deadlines.review_window.start_on_entering, drafts.states.working_group_review "
        "(states: approved, drafting, expert_review, submitted, wg_review, withdrawn)",
        "nap.toml: states.wg_review: unreachable from the initial state 'drafting'",
    ]


def test_undeclared_names_of_different_states_are_each_reported_once(tmp_path: Path) -> None:
    text = GOOD.replace('dest = "review"', 'dest = "reveiw"') + (
        '[deadlines.due]\ntype = "date"\nmet_by_state = "aproved"\n'
    )
    problems = problems_of(tmp_path, text)
    unknown = [p for p in problems if "unknown state" in p]
    assert len(unknown) == 2, problems
    assert unknown[0].startswith("law.toml: transitions[0] (submit).dest: unknown state 'reveiw'")
    assert unknown[1].startswith("law.toml: deadlines.due.met_by_state: unknown state 'aproved'")
    assert "also used by" not in unknown[0] + unknown[1]
