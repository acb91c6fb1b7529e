"""`exemplars audit …`: the auditors' commands. They read the services' databases (read-only
credentials are enough) and never write a service's log; each use is logged.

Exit codes: 0 done (verify: nothing altered), 2 invalid input, 3 not found,
6 verify found an alteration.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from audit import toolkit as audit
from shared.errors import DomainError, InvalidInput, NotFound
from shared.signing import TrustedKeys

console = Console()
errors = Console(stderr=True)
TAMPERED = 6


def sources_of(values: tuple[str, ...]) -> list[audit.LogSource]:
    return guarded(lambda: audit.parse_sources(values)) if values else audit.default_sources()


SOURCES = click.option("--source", "sources", multiple=True, metavar="SERVICE:INSTANCE=URL",
                       help="Nhật ký cần đọc (lặp lại được); mặc định: các dịch vụ của `make run`.")
KEYS = click.option("--keys", "keys_dir", type=click.Path(file_okay=False), default=None,
                    help="Thư mục khóa công khai tin cậy (<instance>.pub); mặc định TRUSTED_KEYS_DIR.")
AT = click.option("--at", "at", default=None,
                  help="Mốc: YYYY-MM-DD (ngày nghiệp vụ) hoặc YYYY-MM-DDTHH:MM (thời điểm ghi nhận).")


def guarded(action):
    """Domain errors become a Vietnamese message and an exit code."""
    try:
        return action()
    except DomainError as error:
        errors.print(f"[bold red]Lỗi:[/] {error.message}")
        sys.exit({InvalidInput: 2, NotFound: 3}.get(type(error), 4))


def write_out(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
        errors.print(f"Đã ghi {output}")
    else:
        click.echo(text)


def progress_bar(total: int, what: str):
    progress = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[rate]} sự kiện/giây"), console=errors, transient=False)
    task = progress.add_task(what, total=total or None, rate="—")
    started = time.perf_counter()

    def advance(count: int) -> None:
        progress.advance(task, count)
        done = progress.tasks[0].completed
        progress.update(task, rate=f"{done / max(time.perf_counter() - started, 1e-6):,.0f}")

    return progress, advance


def total_events(sources: list[audit.LogSource]) -> int:
    return sum(audit.log_length(audit.open_log(s)) for s in sources)


@click.group(help="Thanh tra: dòng thời gian, trạng thái tại một mốc, dựng lại, kiểm chứng, xuất, báo cáo năm.")
def audit_group() -> None:
    pass


@audit_group.command(help="Toàn bộ câu chuyện của một điển hình qua mọi dịch vụ.")
@click.argument("exemplar_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text")
@click.option("--output", default=None, help="Ghi ra tệp thay vì màn hình.")
@SOURCES
def timeline(exemplar_id: str, fmt: str, output: str | None, sources) -> None:
    audit.record_use("timeline", exemplar_id=exemplar_id, format=fmt)
    entries = guarded(lambda: audit.timeline(sources_of(sources), exemplar_id))
    if fmt == "json":
        write_out(json.dumps(entries, ensure_ascii=False, indent=2), output)
    elif fmt == "html":
        write_out(audit.timeline_html(exemplar_id, entries), output)
    else:
        table = Table(title=f"Dòng thời gian điển hình {exemplar_id}")
        for column in ("Ghi nhận lúc (giờ Hà Nội)", "Ngày nghiệp vụ", "Dịch vụ", "Phiên bản dịch vụ", "Sự kiện"):
            table.add_column(column)
        for e in entries:
            table.add_row(audit.local_time(e["recorded_at"]), e["business_date"] or "", e["service"], e["instance"], e["type"])
        console.print(table)


@audit_group.command("as-of", help="Trạng thái một điển hình, một hồ sơ, hoặc cả sổ (không nêu mã) tại một mốc.")
@click.argument("aggregate_id", required=False)
@AT
@SOURCES
def as_of(aggregate_id: str | None, at: str | None, sources) -> None:
    audit.record_use("as-of", aggregate_id=aggregate_id or "register", at=at)
    cutoff = guarded(lambda: audit.Cutoff.parse(at))
    if aggregate_id:
        click.echo(json.dumps(guarded(lambda: audit.as_of(sources_of(sources), aggregate_id, cutoff)),
                              ensure_ascii=False, indent=2))
        return
    for row in audit.register_as_of(sources_of(sources), cutoff):
        click.echo(json.dumps(row, ensure_ascii=False, default=str))


@audit_group.command(help="Dựng lại mọi bảng đọc từ nhật ký vào bảng mới và so với bảng đang dùng.")
@click.option("--scratch", default=None, help="CSDL nháp cho bảng mới (mặc định: tệp SQLite tạm).")
@SOURCES
def replay(scratch: str | None, sources) -> None:
    audit.record_use("replay")
    chosen = sources_of(sources)
    progress, advance = progress_bar(total_events(chosen), "Dựng lại")
    with progress:
        results = audit.replay(chosen, scratch, advance)
    differences = 0
    for result in results:
        differences += len(result["differences"])
        verdict = "[green]khớp[/]" if not result["differences"] else f"[red]{len(result['differences'])} khác biệt[/]"
        console.print(f"{result['instance']} · {result['read_model']}: {result['events']} sự kiện, "
                      f"{result['events_per_s']} sự kiện/giây — {verdict}")
        for difference in result["differences"][:50]:
            console.print(f"  {difference}")
    sys.exit(TAMPERED if differences else 0)


@audit_group.command(help="Kiểm chứng nhật ký không bị sửa, xóa, chèn hay đổi thứ tự (trực tiếp hoặc từ gói xuất).")
@click.option("--bundle", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Gói xuất (.tar.gz) để kiểm chứng ngoại tuyến.")
@KEYS
@SOURCES
def verify(bundle: str | None, keys_dir: str | None, sources) -> None:
    audit.record_use("verify", bundle=bundle)
    trusted = TrustedKeys(keys_dir)
    if bundle:
        reports = guarded(lambda: audit.verify_bundle(Path(bundle), trusted))
    else:
        chosen = sources_of(sources)
        progress, advance = progress_bar(total_events(chosen), "Kiểm chứng")
        with progress:
            reports = [audit.verify_source(source, trusted, advance) for source in chosen]
    for report in reports:
        print_report(report)
    sys.exit(0 if all(r.ok for r in reports) else TAMPERED)


def print_report(report) -> None:
    from shared.integrity import KIND_VI

    status = "[green]nguyên vẹn[/]" if report.ok else f"[bold red]{len(report.findings)} bất thường[/]"
    console.print(f"[bold]{report.log}[/] ({report.instance}): {report.events} sự kiện, {report.checkpoints} điểm kiểm tra đã ký, "
                  f"chứng minh đến vị trí {report.proven_up_to} — {status}")
    if report.unproven_tail:
        console.print(f"  {report.unproven_tail} sự kiện ghi sau điểm kiểm tra cuối: chưa được chứng minh.")
    for finding in report.findings[:200]:
        console.print(f"  vị trí {finding.notification_id}: {KIND_VI.get(finding.kind, finding.kind)} — {finding.detail}")


@audit_group.command(help="Xuất gói kiểm chứng ngoại tuyến: sự kiện (JSON Lines), điểm kiểm tra, phiên bản lược đồ.")
@click.argument("output", type=click.Path(dir_okay=False))
@KEYS
@SOURCES
def export(output: str, keys_dir: str | None, sources) -> None:
    audit.record_use("export", output=output)
    chosen = sources_of(sources)
    progress, advance = progress_bar(total_events(chosen), "Xuất")
    with progress:
        manifest = audit.export(chosen, Path(output), TrustedKeys(keys_dir), advance)
    for item in manifest["logs"]:
        console.print(f"{item['instance']}: {item['events']} sự kiện, {item['checkpoints']} điểm kiểm tra")
    console.print(f"Đã ghi {output}")


@audit_group.command(help="Báo cáo năm gửi Phòng Nội vụ: điển hình theo lĩnh vực, giai đoạn, hình thức đề nghị; "
                          "khen thưởng đã quyết định theo hình thức, đối tượng, đơn vị; so với năm trước.")
@click.argument("year", type=int)
@AT
@click.option("--format", "fmt", type=click.Choice(["csv", "html", "json"]), default="csv")
@click.option("--output", default=None)
@SOURCES
def report(year: int, at: str | None, fmt: str, output: str | None, sources) -> None:
    from audit.annual_report import annual_report, report_csv, report_html
    from shared.catalog import load_catalog

    audit.record_use("report", year=year, at=at, format=fmt)
    data = annual_report(sources_of(sources), year, guarded(lambda: audit.Cutoff.parse(at)), load_catalog())
    text = {"csv": report_csv, "html": report_html, "json": lambda r: json.dumps(r, ensure_ascii=False, indent=2)}
    write_out(text[fmt](data), output)
