"""Console pages. Each view parses the request, calls one service or query, and renders."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.wrappers import Response as WerkzeugResponse

from core.phones import mask_phone
from gateway.database import get_runtime, get_session
from gateway.decisions import decide_application
from gateway.ops import charts, jobs, queries
from gateway.ops.blueprint import bp
from gateway.ops.console_login import (
    SEES_PHONES,
    console_actor,
    current_operator,
    has_role,
    is_partner_operator,
    requires,
)
from gateway.ops_models import audit
from lending.arrears import PAR1, PAR30, PAR_LABELS
from lending.errors import LendingError
from lending.localtime import today
from lending.models import PENDING_REVIEW, Loan
from lending.queries import loan_by_reference
from payments.models import BREAK_STATUSES, BREAK_TYPES
from reconciliation import resolutions
from reconciliation.config import ReconConfig
from reconciliation.resolutions import AGE_BUCKETS, BreakFilter, ResolutionError
from reconciliation.run import last_run, match_counts, reconcile
from reconciliation.statements import import_statement, line_by_receipt, recent_imports

PAGE_SIZE = 50


@bp.app_template_filter("ops_money")
def money_filter(minor: int | None) -> str:
    """Minor units as `KES 1,234.50` (blank for none)."""
    if minor is None:
        return ""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}KES {whole:,}" + (f".{cents:02d}" if cents else "")


@bp.app_template_filter("ops_value")
def value_filter(value: Any) -> str:
    """A stored fact for people: never Python's None, True or a dict's repr."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(f"{str(k).replace('_', ' ')}: {value_filter(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_filter(v) for v in value) or "–"
    return str(value)


@bp.app_template_filter("ops_details")
def details_filter(facts: Any) -> Markup:
    """A stored dict (an audit entry's before and after) as a short `key: value` list."""
    if facts is None or facts == {} or facts == "":
        return Markup('<span class="meta">–</span>')
    if not isinstance(facts, dict):
        return escape(value_filter(facts))
    rows = Markup("").join(
        Markup("<dt>{}</dt><dd>{}</dd>").format(
            str(key).replace("_", " "),
            details_filter(value) if isinstance(value, dict) else value_filter(value))
        for key, value in facts.items())
    return Markup('<dl class="details">{}</dl>').format(rows)


@bp.app_template_filter("ops_phone")
def phone_filter(number: str | None) -> str:
    """A phone number in full only for roles that need it; masked for everyone else."""
    if not number:
        return ""
    operator = current_operator()
    return number if operator.role in SEES_PHONES else mask_phone(number)


@bp.app_context_processor
def _console_helpers() -> dict[str, Any]:
    return {"has_role": has_role, "is_partner_operator": is_partner_operator}


def _scope() -> queries.Scope:
    return queries.Scope(current_operator().field_partner_id)


def _int(name: str, default: int = 0) -> int:
    """A small non-negative integer from the query or form; anything else is the default."""
    raw = request.values.get(name, "")
    # isdigit() alone accepts "²" and "٣", which int() refuses or reads as another number.
    if raw.isascii() and raw.isdigit() and len(raw) <= 9:
        return int(raw)
    return default


# --- the dashboard ---------------------------------------------------------------------------


@bp.get("/")
@requires("viewer", partners=True)
def dashboard() -> str:
    """Portfolio health and the reconciliation backlog, as charts."""
    session, day = get_session(), today()
    trend = queries.portfolio_trend(session, _scope(), day)
    labels = [d.strftime("%d %b") for d, _ in trend]
    current = trend[-1][1]
    flows = queries.disbursed_and_repaid(session, day) if not is_partner_operator() else []
    breaks = ({} if is_partner_operator()
              else {kind.replace("_", " "): ages for kind, ages
                    in resolutions.open_breaks_by_type_and_age(session).items()})
    return render_template(
        "ops/dashboard.html", figures=current,
        outstanding_chart=charts.bars("Outstanding principal", labels,
                                      {"outstanding": [f.outstanding_principal
                                                       for _, f in trend]}, charts.shillings,
                                      minimum=100_000),
        par_chart=charts.line("Portfolio at risk", labels, {
            PAR_LABELS[name]: [f.par_percent.get(name) for _, f in trend]
            for name in (PAR1, PAR30)}),
        repayment_chart=charts.line("Repayment rate", labels,
                                    {"repayment rate": [f.repayment_rate for _, f in trend]},
                                    top=100.0),
        flows_chart=charts.bars("Disbursed and repaid per month", [f.month for f in flows],
                                {"disbursed": [f.disbursed for f in flows],
                                 "repaid": [f.repaid for f in flows]}, charts.shillings,
                                minimum=100_000)
        if flows else None,
        breaks_chart=None if is_partner_operator() else charts.stacked(
            "Open breaks by type and age", breaks, [b[0] for b in AGE_BUCKETS]),
        open_breaks=sum(sum(v.values()) for v in breaks.values()),
    )


# --- reconciliation --------------------------------------------------------------------------


@bp.get("/reconciliation")
@requires("viewer")
def breaks() -> str:
    """The queue of breaks, filtered by status, type and age."""
    status = request.args.get("status", "open")
    type_ = request.args.get("type") or None
    flt = BreakFilter(status=status if status in BREAK_STATUSES else None,
                      type=type_ if type_ in BREAK_TYPES else None,
                      older_than_days=_int("older_than") or None)
    offset = _int("offset")
    session = get_session()
    items, total = resolutions.list_breaks(session, flt, limit=PAGE_SIZE, offset=offset)
    return render_template("ops/breaks.html", items=items, total=total, flt=flt,
                           offset=offset, page_size=PAGE_SIZE, statuses=BREAK_STATUSES,
                           types=BREAK_TYPES, run=last_run(session),
                           pending=len(resolutions.pending_actions(session)))


@bp.get("/reconciliation/breaks/<int:break_id>")
@requires("viewer")
def break_detail(break_id: int) -> str:
    """One break: the facts, what may be done, pending approvals and the audit trail."""
    session = get_session()
    try:
        item = resolutions.get_break(session, break_id)
    except ResolutionError:
        abort(404)
    line = line_by_receipt(session, item.receipt) if item.receipt else None
    loan = session.get(Loan, item.loan_id) if item.loan_id else None
    return render_template(
        "ops/break.html", item=item, line=line, loan=loan,
        allowed=resolutions.allowed_actions(item),
        actions=resolutions.actions_for(session, break_id),
        trail=queries.audit_for(session, "reconciliation_break", break_id),
        threshold=resolutions.approval_threshold())


@bp.post("/reconciliation/breaks/<int:break_id>/resolve")
@requires("reconciler")
def break_resolve(break_id: int) -> WerkzeugResponse:
    """Assign, refund, write off or dismiss; big money goes to a second person."""
    session = get_session()
    reference = request.form.get("loan_reference", "").strip()
    loan_id = None
    if reference:
        loan = loan_by_reference(session, reference[:40], schedule=False)
        if loan is None:
            flash(f"No loan {reference[:40]}: check the reference (e.g. from the Loans page).",
                  "error")
            return redirect(url_for("ops.break_detail", break_id=break_id))
        loan_id = loan.id
    try:
        outcome = resolutions.resolve(session, break_id, request.form.get("action", ""),
                                      actor=console_actor(), loan_id=loan_id,
                                      reason=request.form.get("reason", ""), audit=audit)
    except ResolutionError as exc:
        flash(exc.message, "error")
        return redirect(url_for("ops.break_detail", break_id=break_id))
    session.commit()
    flash(f"Break {break_id}: {outcome.status.replace('_', ' ')} ({outcome.detail})", "ok")
    return redirect(url_for("ops.break_detail", break_id=break_id))


@bp.get("/reconciliation/approvals")
@requires("approver")
def approvals() -> str:
    """Money-moving actions waiting for a second person."""
    return render_template("ops/approvals.html",
                           actions=resolutions.pending_actions(get_session()),
                           me=console_actor().key)


@bp.post("/reconciliation/actions/<int:action_id>/<decision>")
@requires("approver")
def action_decide(action_id: int, decision: str) -> WerkzeugResponse:
    """Approve (the action runs now) or reject (the break stays open)."""
    session, actor = get_session(), console_actor()
    note = request.form.get("reason", "")
    try:
        if decision == "approve":
            resolutions.approve(session, action_id, actor=actor, audit=audit, note=note)
        elif decision == "reject":
            resolutions.reject(session, action_id, actor=actor, audit=audit, reason=note)
        else:
            abort(404)
    except ResolutionError as exc:
        flash(exc.message, "error")
        return redirect(url_for("ops.approvals"))
    session.commit()
    flash(f"Action {action_id} {decision}d", "ok")
    return redirect(url_for("ops.approvals"))


@bp.get("/reconciliation/statements")
@requires("viewer")
def statements() -> str:
    """Imported statements and the last reconciliation run."""
    session = get_session()
    return render_template("ops/statements.html", imports=recent_imports(session),
                           run=last_run(session), matches=match_counts(session))


@bp.post("/reconciliation/statements")
@requires("reconciler")
def statement_upload() -> Any:
    """Import an uploaded statement export: all of it, or nothing and the reasons."""
    upload = request.files.get("statement")
    if upload is None or not upload.filename:
        flash("Choose a statement file (CSV) to import.", "error")
        return redirect(url_for("ops.statements"))
    session = get_session()
    report = import_statement(session, upload.stream, file_name=upload.filename,
                              actor=str(console_actor()),
                              tz=get_runtime().settings.timezone)
    if not report.ok:
        session.rollback()
        return render_template("ops/statements.html", imports=recent_imports(session),
                               run=last_run(session), matches=match_counts(session),
                               report=report), 400
    audit(session, actor=str(console_actor()), action="recon.import",
          subject_type="statement_import", subject_id=report.import_id,
          after={"file": report.file_name, "lines": report.lines})
    session.commit()
    flash(f"Imported {report.lines} line(s) from {report.file_name}.", "ok")
    return redirect(url_for("ops.statements"))


@bp.post("/reconciliation/run")
@requires("reconciler")
def reconcile_now() -> WerkzeugResponse:
    """Run the matching engine now."""
    session = get_session()
    summary = reconcile(session, actor=str(console_actor()), config=ReconConfig.from_env())
    audit(session, actor=str(console_actor()), action="recon.run", subject_type="recon_run",
          subject_id=summary.run_id, after=summary.to_json())
    session.commit()
    flash(f"Run {summary.run_id}: {sum(summary.matched.values())} matched, "
          f"{sum(summary.breaks.values())} new break(s), {summary.closed} cleared.", "ok")
    return redirect(url_for("ops.breaks"))


# --- applications and loans ------------------------------------------------------------------


@bp.get("/applications")
@requires("approver", partners=True)
def applications_list() -> str:
    """Applications waiting for review (a field partner's operators see only theirs)."""
    items, total = queries.list_loans(get_session(), _scope(), status=PENDING_REVIEW,
                                      limit=PAGE_SIZE, offset=_int("offset"))
    return render_template("ops/applications.html", items=items, total=total)


@bp.post("/applications/<int:loan_id>/<decision>")
@requires("approver", partners=True)
def application_decide(loan_id: int, decision: str) -> WerkzeugResponse:
    """Approve or reject one application, with the reason kept."""
    session, actor = get_session(), str(console_actor())
    loan = queries.find_loan(session, _scope(), loan_id)
    if loan is None or decision not in ("approve", "reject"):
        abort(404)
    reason = request.form.get("reason", "").strip()[:300]
    try:
        loan = decide_application(session, loan, "approve" if decision == "approve" else "reject",
                                  actor=actor, reason=reason)
    except LendingError as exc:
        session.rollback()
        flash(f"Loan {loan_id}: {exc.message}", "error")
        return redirect(url_for("ops.applications_list"))
    session.commit()
    flash(f"Loan {loan.reference} {decision}d.", "ok")
    return redirect(url_for("ops.applications_list"))


@bp.get("/loans")
@requires("viewer", partners=True)
def loans() -> str:
    """Find loans and borrowers by reference, phone, national id or name."""
    text = request.args.get("q", "")
    return render_template("ops/loans.html", q=text,
                           items=queries.search_loans(get_session(), _scope(), text))


@bp.get("/loans/<int:loan_id>")
@requires("viewer", partners=True)
def loan_detail(loan_id: int) -> str:
    """A loan, its borrower and its schedule."""
    loan = queries.find_loan(get_session(), _scope(), loan_id)
    if loan is None:
        abort(404)
    return render_template("ops/loan.html", loan=loan,
                           trail=queries.audit_for(get_session(), "loan", loan_id))


# --- messages, jobs, audit -------------------------------------------------------------------


@bp.get("/sms")
@requires("viewer")
def sms() -> str:
    """Outbound SMS by delivery status, and why the failed ones failed."""
    session = get_session()
    counts = queries.sms_by_status(session)
    return render_template("ops/sms.html", counts=counts, total=sum(counts.values()),
                           reasons=queries.sms_failure_reasons(session),
                           chart=charts.bars("SMS by status", list(counts),
                                             {"messages": list(counts.values())}))


@bp.get("/jobs")
@requires("admin")
def jobs_page() -> str:
    """Queue lengths and failed jobs (admin only)."""
    return render_template("ops/jobs.html", queues=jobs.queue_states(),
                           failed=jobs.failed_jobs())


@bp.post("/jobs/<queue>/<job_id>/requeue")
@requires("admin")
def job_requeue(queue: str, job_id: str) -> WerkzeugResponse:
    """Put a failed job back on its queue."""
    try:
        jobs.requeue(queue, job_id)
    except (KeyError, ValueError):
        flash(f"Job {job_id} is not in the failed registry of {queue}.", "error")
        return redirect(url_for("ops.jobs_page"))
    session = get_session()
    audit(session, actor=str(console_actor()), action="job.requeue", subject_type="rq_job",
          subject_id=job_id, after={"queue": queue})
    session.commit()
    flash(f"Job {job_id} requeued on {queue}.", "ok")
    return redirect(url_for("ops.jobs_page"))


@bp.get("/audit")
@requires("approver")
def audit_page() -> str:
    """The audit log, newest first."""
    offset = _int("offset")
    entries, total = queries.audit_log(get_session(),
                                       subject_type=request.args.get("subject") or None,
                                       actor=request.args.get("actor") or None,
                                       limit=PAGE_SIZE, offset=offset)
    return render_template("ops/audit.html", entries=entries, total=total, offset=offset,
                           page_size=PAGE_SIZE, subject=request.args.get("subject", ""),
                           actor=request.args.get("actor", ""))
