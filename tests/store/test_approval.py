"""Trustworthy approval and publishing: claims, flags, the comparison as one unit, stale pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.cli import main
from panel.errors import BlockedError, ConflictError, UsageError
from panel.pages.publish import publish
from panel.paths import default_db
from panel.records import Claim, ClaimKind, ClaimStatus, Status, ToolPanel, Verdict
from panel.status import Gate, change_status, stale_pages, stale_reason
from panel.store import Store, open_store
from panel.store.comparisons import get_comparison
from panel.workflow import Edit, dismiss_flag, edit_review, flag_ids, set_claim
from tests.pages_support import make_panel, store_comparison, store_panel

QUOTE = (
    "I priced it against Cursor at $20 per seat and it holds up for a team of ten; "
    "the SDK took ten minutes to wire in, and I would ship it."
)


def with_claims(panel: ToolPanel, persona_id: str = "business", *texts: str) -> ToolPanel:
    """``panel`` whose ``persona_id`` review names ``texts`` in its quote, each a claim to
    verify (ids ``persona-0000``, ``persona-0001``... as they were stored)."""

    def kind(text: str) -> ClaimKind:
        return ClaimKind.MONEY if text[0] in "$€£" else ClaimKind.NAME

    claims = [
        Claim(id=f"{persona_id}-{i:04x}", text=text, kind=kind(text))
        for i, text in enumerate(texts)
    ]
    reviews = [
        r.model_copy(update={"claims": claims, "quote": f"{r.quote} It names {', '.join(texts)}."})
        if r.persona_id == persona_id
        else r
        for r in panel.reviews
    ]
    return panel.model_copy(update={"reviews": reviews})


@pytest.fixture
def store() -> Store:
    return open_store(default_db())


def test_claims_to_verify_block_approval_until_verified_or_waived(store: Store) -> None:
    panel = store_panel(store, with_claims(make_panel("Acme", "yyyy"), "business", "Cursor", "$20"))
    with pytest.raises(BlockedError) as caught:
        change_status(store, "panel", panel.slug, "approve", expected_revision=None, editor="a")
    message = str(caught.value)
    assert 'business-0000 "Cursor"' in message and 'business-0001 "$20"' in message
    assert store.get_panel(panel.slug).status is Status.DRAFT

    set_claim(store, panel.slug, "business-0000", "verify", expected_revision=None, editor="ann")
    with pytest.raises(BlockedError, match="1 claim to verify: business-0001"):
        change_status(store, "panel", panel.slug, "approve", expected_revision=None, editor="a")
    set_claim(store, panel.slug, "business-0001", "waive", expected_revision=None, editor="bob")
    approved = change_status(
        store, "panel", panel.slug, "approve", expected_revision=None, editor="a"
    )
    assert approved.status is Status.APPROVED
    claims = approved.review("business").claims  # type: ignore[union-attr]
    assert [(c.status, c.changed_by) for c in claims if c.status is not ClaimStatus.IN_LAUNCH] == [
        (ClaimStatus.VERIFIED, "ann"),
        (ClaimStatus.WAIVED, "bob"),
    ]
    trail = [(e["editor"], e["action"], e["detail"]) for e in store.history("panel", panel.slug)]
    assert ("ann", "verify", 'business-0000 "Cursor" (business): to_verify → verified') in trail
    assert ("bob", "waive", 'business-0001 "$20" (business): to_verify → waived') in trail


def test_the_project_may_approve_unverified_claims(store: Store) -> None:
    panel = store_panel(store, with_claims(make_panel("Acme", "yyyy"), "dx", "Ollama"))
    gate = Gate(require_verified_claims=False)
    approved = change_status(
        store, "panel", panel.slug, "approve", expected_revision=None, editor="a", gate=gate
    )
    assert approved.status is Status.APPROVED


def test_a_claim_the_launch_states_needs_no_check(store: Store) -> None:
    panel = make_panel("Acme", "yyyy")
    stated = Claim(id="dx-1", text="Acme", kind=ClaimKind.NAME, status=ClaimStatus.IN_LAUNCH)
    reviews = [r.model_copy(update={"claims": [stated]}) for r in panel.reviews]
    stored = store_panel(store, panel.model_copy(update={"reviews": reviews}))
    with pytest.raises(UsageError, match="stated in the launch"):
        set_claim(store, stored.slug, "dx-1", "verify", expected_revision=None, editor="a")
    with pytest.raises(UsageError, match=r"no claim 'nope' \(claims: dx-1"):
        set_claim(store, stored.slug, "nope", "verify", expected_revision=None, editor="a")
    change_status(store, "panel", stored.slug, "approve", expected_revision=None, editor="a")


def test_flags_ask_for_a_confirmation_or_a_dismissal(store: Store) -> None:
    panel = make_panel("Acme", "yyyy")
    reviews = [
        r.model_copy(update={"flags": ["missing beats: moat"]}) if r.persona_id == "business" else r
        for r in panel.reviews
    ]
    flagged = panel.model_copy(update={"reviews": reviews, "flags": ["collapsed panel: 0.91"]})
    stored = store_panel(store, flagged)
    with pytest.raises(BlockedError) as caught:
        change_status(store, "panel", stored.slug, "approve", expected_revision=None, editor="a")
    assert caught.value.only_flags
    assert "business: missing beats: moat; collapsed panel: 0.91" in str(caught.value)
    assert [i for i, _, _ in flag_ids(stored)] == ["business:1", "panel:1"]

    dismissed = dismiss_flag(store, stored.slug, "panel:1", expected_revision=None, editor="ann")
    assert dismissed.open_flags == [] and dismissed.status is Status.DRAFT
    with pytest.raises(UsageError, match="already dismissed"):
        dismiss_flag(store, stored.slug, "panel:1", expected_revision=None, editor="ann")
    with pytest.raises(ConflictError):
        dismiss_flag(store, stored.slug, "business:1", expected_revision=1, editor="ann")
    approved = change_status(
        store,
        "panel",
        stored.slug,
        "approve",
        expected_revision=None,
        editor="a",
        gate=Gate(accept_flags=True),
    )
    assert approved.status is Status.APPROVED
    last = store.history("panel", stored.slug)[-1]
    assert last["detail"] == "draft → approved (flags accepted: business: missing beats: moat)"
    assert ("ann", "dismiss", "panel:1: collapsed panel: 0.91") in [
        (e["editor"], e["action"], e["detail"]) for e in store.history("panel", stored.slug)
    ]


def test_approving_a_comparison_lists_every_blocker_of_both_panels_at_once(store: Store) -> None:
    a = with_claims(make_panel("Alpha", "yxyy"), "dx", "LangChain")
    b = with_claims(make_panel("Beta", "yyyy"), "business", "$9 per month")
    comparison = store_comparison(store, a, b)
    with pytest.raises(BlockedError) as caught:
        change_status(
            store, "comparison", comparison.slug, "approve", expected_revision=None, editor="a"
        )
    blockers = [str(b) for b in caught.value.blockers]
    assert blockers[0].startswith("panel 'alpha': skeptic failed; regenerate")
    assert any(
        b.startswith("panel 'alpha': 1 claim to verify: dx-0000 \"LangChain\"") for b in blockers
    )
    assert any(
        b.startswith("panel 'beta': 1 claim to verify: business-0000 \"$9 per month\"")
        for b in blockers
    )
    for slug in ("alpha", "beta"):
        assert store.get_panel(slug).status is Status.DRAFT
    assert get_comparison(store, comparison.slug).status is Status.DRAFT


def test_approving_a_comparison_approves_its_panels_in_one_transaction(store: Store) -> None:
    comparison = store_comparison(store, make_panel("Alpha", "yyny"), make_panel("Beta", "ynyy"))
    # A change made against a stale revision of the comparison approves nothing at all.
    with pytest.raises(ConflictError):
        change_status(
            store, "comparison", comparison.slug, "approve", expected_revision=7, editor="a"
        )
    assert store.get_panel("alpha").status is Status.DRAFT
    approved = change_status(
        store, "comparison", comparison.slug, "approve", expected_revision=1, editor="ann"
    )
    assert approved.status is Status.APPROVED
    for slug in ("alpha", "beta"):
        assert store.get_panel(slug).status is Status.APPROVED
        assert (
            store.history("panel", slug)[-1]["detail"] == f"draft → approved with {comparison.slug}"
        )
    with pytest.raises(UsageError, match="it is approved"):
        change_status(
            store, "comparison", comparison.slug, "approve", expected_revision=None, editor="a"
        )


def test_publishing_lists_every_blocker_and_then_goes_in_one_action(
    store: Store, tmp_path: Path
) -> None:
    comparison = store_comparison(store, make_panel("Alpha", "yyny"), make_panel("Beta", "ynyy"))
    site = tmp_path / "site"
    with pytest.raises(BlockedError) as caught:
        publish(store, comparison.slug, editor="a", out=site)
    text = str(caught.value)
    for name in (
        "panel alpha is a draft",
        "panel beta is a draft",
        "comparison alpha-vs-beta is a draft",
    ):
        assert name in text
    assert not site.exists()
    result = publish(store, comparison.slug, editor="ann", out=site, approve=True)
    assert result.marked == ["panel alpha", "panel beta", "comparison alpha-vs-beta"]
    assert (site / "compare" / "alpha-vs-beta.html").is_file()
    assert (site / "tools" / "alpha.html").is_file()


def test_an_edited_published_panel_marks_its_pages_stale_until_republished(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    comparison = store_comparison(store, make_panel("Alpha", "yyny"), make_panel("Beta", "ynyy"))
    site = tmp_path / "site"
    publish(store, comparison.slug, editor="ann", out=site, approve=True)
    assert stale_pages(store) == []
    edit_review(
        store,
        "alpha",
        Edit("dx", quote="A brand new paragraph about Alpha and its primitive."),
        expected_revision=None,
        editor="bob",
    )
    stale = {(p.kind, p.slug) for p in stale_pages(store)}
    assert stale == {("panel", "alpha"), ("comparison", "alpha-vs-beta")}
    assert "panel alpha: revision 4 is draft" in (
        stale_reason(store, "comparison", "alpha-vs-beta") or ""
    )
    assert main(["--db", str(default_db()), "review"]) == 0
    out = capsys.readouterr().out
    assert "stale comparison alpha-vs-beta: panel alpha: revision 4 is draft" in out
    compare_page = site / "compare" / "alpha-vs-beta.html"
    tool_page = site / "tools" / "alpha.html"
    assert "brand new paragraph" not in compare_page.read_text()

    # One republish of the comparison (approving the edited panel) updates both pages.
    accept = Gate(accept_flags=True)  # the short new quote misses beats: flagged
    publish(store, comparison.slug, editor="ann", out=site, approve=True, gate=accept)
    assert "brand new paragraph" in compare_page.read_text()
    assert "brand new paragraph" in tool_page.read_text()
    assert stale_pages(store) == []


def test_republishing_a_panel_rewrites_its_published_comparisons(
    store: Store, tmp_path: Path
) -> None:
    comparison = store_comparison(store, make_panel("Alpha", "yyny"), make_panel("Beta", "ynyy"))
    site = tmp_path / "site"
    publish(store, comparison.slug, editor="ann", out=site, approve=True)
    edit_review(
        store,
        "alpha",
        Edit("dx", quote="Rewritten for the panel page."),
        expected_revision=None,
        editor="b",
    )
    result = publish(
        store, "alpha", editor="ann", out=site, approve=True, gate=Gate(accept_flags=True)
    )
    assert site / "compare" / "alpha-vs-beta.html" in result.files
    assert "Rewritten for the panel page." in (site / "compare" / "alpha-vs-beta.html").read_text()
    assert stale_pages(store) == []


def test_a_verdict_edit_that_contradicts_the_headline_flags_it(store: Store) -> None:
    panel = store_panel(
        store, make_panel("Acme", "yyyy", headlines={"dx": "The Builder says ship on Acme"})
    )
    edited = edit_review(
        store, panel.slug, Edit("dx", verdict=Verdict.SKIP), expected_revision=None, editor="a"
    )
    flags = edited.review("dx").flags  # type: ignore[union-attr]
    assert any(
        f == 'headline says ship ("The Builder says ship") but verdict is skip' for f in flags
    )
    fixed = edit_review(
        store,
        panel.slug,
        Edit("dx", headline="The Builder says skip on Acme"),
        expected_revision=None,
        editor="a",
    )
    assert not any("headline says" in f for f in fixed.review("dx").flags)  # type: ignore[union-attr]
    assert "dx headline" in store.history("panel", panel.slug)[-1]["detail"]


def test_the_cli_lists_claims_verifies_them_and_approves(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    panel = store_panel(
        store, with_claims(make_panel("Acme", "yyyy"), "skeptic", "Ollama", "LM Studio")
    )
    assert main(["approve", panel.slug]) == 2
    err = capsys.readouterr().err
    assert "2 claims to verify" in err and 'skeptic-0000 "Ollama"' in err
    assert main(["claims", panel.slug]) == 0
    out = capsys.readouterr().out
    assert "skeptic-0000" in out and "to verify" in out
    # one unknown id among them: nothing is changed (no revision, no audit entry)
    revision = store.get_panel(panel.slug).revision
    assert main(["verify", panel.slug, "skeptic-0000", "skeptic-9999"]) == 2
    assert "has no claim 'skeptic-9999'" in capsys.readouterr().err
    assert store.get_panel(panel.slug).revision == revision
    assert all(c.open for c in store.get_panel(panel.slug).review("skeptic").claims)  # type: ignore[union-attr]
    assert (
        main(["--editor-name", "cleo", "verify", panel.slug, "skeptic-0000", "skeptic-0001"]) == 0
    )
    capsys.readouterr()
    assert main(["approve", panel.slug]) == 0
    capsys.readouterr()
    assert main(["claims", panel.slug, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    checked = [(r["id"], r["status"], r["changed_by"]) for r in rows if r["status"] != "in_launch"]
    assert checked == [
        ("skeptic-0000", "verified", "cleo"),
        ("skeptic-0001", "verified", "cleo"),
    ]


def test_eval_never_redrafts_approved_or_published_panels(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = Path(__file__).resolve().parents[2] / "examples" / "golden.jsonl"
    panel = make_panel("GPT-5 Mini API", "yyyy")
    stored = store_panel(store, panel)
    store.save_panel(
        stored.model_copy(update={"status": Status.PUBLISHED}),
        expected_revision=stored.revision,
        editor="t",
        action="publish",
    )
    assert main(["eval", str(golden), "-m", "fake:mixed"]) == 2
    err = capsys.readouterr().err
    assert "eval would redraft approved or published panels (gpt-5-mini-api)" in err
    assert "--redraft" in err
    assert store.get_panel("gpt-5-mini-api").revision == 2
    assert store.recent_calls(5) == []


def test_a_panel_stored_before_claims_were_read_is_gated_too(store: Store) -> None:
    """A draft saved by an earlier Panel has no claims stored: approval reads them from its
    text, lists them, and verifying one by its id works as for a new draft."""
    panel = make_panel("Acme", "yyyy")
    reviews = [
        r.model_copy(update={"quote": f"{r.quote} It costs $30 per seat.", "claims": []})
        if r.persona_id == "business"
        else r
        for r in panel.reviews
    ]
    stored = store_panel(store, panel.model_copy(update={"reviews": reviews}))
    assert stored.review("business").claims == []  # type: ignore[union-attr]
    with pytest.raises(BlockedError) as caught:
        change_status(store, "panel", stored.slug, "approve", expected_revision=None, editor="a")
    [blocker] = caught.value.blockers
    claim_id = blocker.text.split(": ", 1)[1].split(" ")[0]
    assert claim_id.startswith("business-") and '"$30 per seat"' in blocker.text
    set_claim(store, stored.slug, claim_id, "verify", expected_revision=None, editor="ann")
    approved = change_status(
        store, "panel", stored.slug, "approve", expected_revision=None, editor="a"
    )
    assert approved.status is Status.APPROVED
    assert approved.review("business").claim(claim_id).changed_by == "ann"  # type: ignore[union-attr]
