"""The Snakemake report: a front page with a verdict per study and every figure, each figure with a
caption whose statements about the run come from the run, and figures that really load.

* Captions (no run needed): the shared part of every figure's caption, :func:`hptransfer.report.
  figure_caption`, is valid reStructuredText for every figure the smoke preset draws and names the
  paper figure, the study and its settings; every caption file ends by including the file its figure
  job writes (``.. include:: {{ snakemake.output.fits }}``), never a rule parameter.
* ``snakemake --report results/report.html`` on a clone of the finished smoke run (``smoke_run`` in
  conftest.py): every figure PNG of the run is in the report, each with its caption (description,
  study settings, paper figure, what the data show), no caption under "job parameters"; the captions
  of the rates figures carry the numbers fitted in transfer.nc and Fig 7's the linearisation gap of
  sweep.nc; the front page gives a verdict per study and a thumbnail of every figure, each study a
  category of its own.
* Headless Chromium opens the report: on the landing page, with no click, the verdicts and the
  figures' thumbnails come before the rule graph and load; a click on a thumbnail opens the figure
  with its caption; and, for every figure, what a click on it in the menu does (the report app's
  ``setView`` with the result's info panel and its image) shows a decoded image (``naturalWidth >
  0``) and its caption. Chromium is driven through the DevTools protocol over a pipe
  (``--remote-debugging-pipe``: JSON messages separated by NUL bytes on fds 3 and 4), standard
  library only, no network.

Without Chromium (``chromium``, Debian's package; .ci/install-system.sh installs it) the browser
tests are skipped with the reason, except under ``CI=true``, where they fail instead.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from docutils.core import publish_parts
from workflow_utils import REPO, SMOKE, clone_run, load_yaml, snakemake

from hptransfer.config.load import load_config
from hptransfer.figures.catalogue import CATALOGUE, all_figures
from hptransfer.report import figure_caption, fitted_numbers, paper_figure

REPORT_TIMEOUT_S = 600
BROWSER_TIMEOUT_S = 180


def smoke_config() -> dict:
    return load_config(load_yaml(REPO / SMOKE))


BLOCK_TAG = re.compile(r"</?(p|th|td|tr|li|ul|ol|dl|dt|dd|div|table|tbody|br|blockquote)\b[^>]*>")


def text_of(caption_html: str) -> str:
    """The caption as plain text, as a browser shows it: block tags become spaces, inline tags go,
    entities are decoded and white space is collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", BLOCK_TAG.sub(" ", caption_html))).split())


def expected_settings(study: dict) -> list[str]:
    """Phrases the caption of a figure of ``study`` must contain: its widths and seeds."""
    return [
        f"{key} {study[key][0] if len(study[key]) <= 6 else len(study[key])}"
        for key in ("widths", "seeds")
        if key in study
    ]


# --------------------------------------------------------------------------- captions, no run


@pytest.mark.parametrize(
    "config", ["config.yaml", SMOKE, "workflow/presets/workstation.yaml", "workflow/presets/paper.yaml"]
)
def test_figure_captions_are_valid_rst_naming_paper_figure_study_and_settings(config, tmp_path):
    cfg = load_config(load_yaml(REPO / config), check_data=False)  # the paper's corpora need not be here
    figures = all_figures(cfg, enabled_only=False)
    assert figures
    for stem, (spec, study) in figures.items():
        # inputs that do not exist yet: the caption lists the settings, no fitted numbers
        inputs = [str(tmp_path / f"results/studies/{study}/{name}.nc") for name in spec.inputs] if study else []
        caption = figure_caption(cfg, spec.figure_id, inputs)
        # after the figure's own text, as in the report (a leading field list would become docinfo)
        body = publish_parts(
            "Description.\n\n" + caption, writer="html", settings_overrides={"report_level": 5, "halt_level": 2}
        )["body"]
        text = text_of(body)
        number = paper_figure(spec.figure_id)
        if number is not None:
            assert f"Paper figure: Fig {number}" in text, stem
        if study:
            assert f"Study: {study} ({cfg['studies'][study]['kind']})" in text, stem
            assert "Settings:" in text, stem
            for phrase in expected_settings(cfg["studies"][study]):
                assert phrase in text, (stem, phrase)
        assert "Fitted to" not in text, stem
        if study and cfg["studies"][study].get("optimizer", {}).get("rank_cap"):
            assert f"bounded rank (cap {cfg['studies'][study]['optimizer']['rank_cap']})" in text, stem


def test_caption_takes_the_fitted_numbers_the_figure_job_wrote(tmp_path):
    cfg = smoke_config()
    inputs = ["results/studies/sphere/sweep.nc", "results/studies/sphere/transfer.nc"]
    fits = tmp_path / "rates_sphere.rst"
    assert "Fitted" not in figure_caption(cfg, "rates", inputs, str(fits))  # before the figure job
    fits.write_text("Fitted to ``sphere`` (``transfer.nc``):\n\n- alpha = 0.5\n")
    caption = figure_caption(cfg, "rates", inputs, str(fits))
    assert caption.startswith(":Study: ``sphere`` (twolayer)") and caption.endswith("\n\n- alpha = 0.5")
    # only analysis datasets have fitted numbers: nothing to read for a sweep or a module
    assert fitted_numbers(["results/studies/sphere/sweep.nc", "workflow/hptransfer/figures/rates.py"]) == ""


def test_caption_text_holds_what_the_data_show_as_clean_restructuredtext(tmp_path):
    """The figure job's part of Fig 7's caption, on a planted sweep whose linearised loss misses the
    EMA loss change by 23% at one width and learning rate: the studies and settings, the gap in
    words (where it exceeds 5%), escaped so that |...| and names like a_n stay plain text."""
    from sweeps import make_sweep

    from hptransfer.io import write_dataset
    from hptransfer.report import caption_findings, caption_text

    steps, grid = np.arange(4), (0.004, 0.016, 0.064)
    gap = np.full((2, 3, 2), 0.01)
    gap[0, 2] = 0.23
    ema = np.broadcast_to(np.linspace(5.0, 4.0, 4), (2, 3, 2, 4))
    dims = ("width", "lr", "seed", "eval_step")
    sweep = make_sweep(
        ema[..., -1],
        widths=(16, 32),
        grid=grid,
        seeds=2,
        variables={
            "loss_val_ema": (dims, ema),
            "loss_val_iterate": (dims, ema + 0.05),
            "loss_linearized": (dims, 5.0 - (1.0 + gap[..., None]) * np.linspace(0.0, 1.0, 4)),
            "linearization_gap": (dims[:-1], gap),
        },
        coords={"eval_step": steps},
    )
    path = tmp_path / "results/studies/llama_adam_lr/sweep.nc"
    write_dataset(sweep, path)
    text = caption_text(smoke_config(), "fig07", "linearization", {"sweep": str(path)}, {"lr": 0.064})
    html = publish_parts(
        "Own text.\n\n" + text, writer="html", settings_overrides={"report_level": 1, "halt_level": 2}
    )["body"]
    shown = text_of(html)
    assert "Paper figure: Fig 7" in shown and "Study: llama_adam_lr (lm)" in shown
    assert "In this run (computed by the figure job from the datasets drawn):" in shown
    assert "over-predicts the EMA loss change by 23% at its last step" in shown
    assert "|linearised - EMA final loss| / |EMA loss change|" in shown
    assert "seed mean above 5%: width 16 at lr 0.064 (23%)" in shown
    # a drawer whose findings fail names the failure in the caption instead of failing the job
    (line,) = caption_findings("linearization", {}, {})
    assert line.startswith("(the figure job could not compute what the data show: KeyError")


def test_verdict_table_says_what_decides_each_verdict_both_ways(tmp_path):
    """The front page's table (rule verdicts): one line per study in config order, the verdict with
    what decides it; the ridge penalty called fast only where b_n decays faster than √a_n."""
    from sweeps import make_sweep

    from hptransfer.analysis import analyze_transfer
    from hptransfer.io import write_dataset
    from hptransfer.report import verdict_table

    def rf(b):
        slopes = {"slope_a": -1.0, "slope_b": b, "slope_c": -2.0}
        return xr.Dataset(attrs=slopes | {f"predicted_slope_{g}": -1.0 for g in "abc"})

    edge = make_sweep(lambda n, lr: (np.log2(lr) + 3.0) ** 2 + n**-0.5, widths=(16, 32), grid=2.0 ** np.arange(-9, -5))
    datasets = {
        "fast_rf": ("rf", rf(-0.9)),
        "slow_rf": ("rf", rf(-0.2)),
        "toy": ("transfer", analyze_transfer(edge, {"bootstrap": {"n": 10}})),
    }
    paths = []
    for study, (name, ds) in datasets.items():
        paths.append(tmp_path / f"results/studies/{study}/{name}.nc")
        write_dataset(ds, paths[-1])
    cfg = {"studies": {"toy": {"kind": "lm"}, "slow_rf": {"kind": "rf_ridge"}, "fast_rf": {"kind": "rf_ridge"}}}
    lines = verdict_table(cfg, [str(p) for p in paths]).splitlines()
    assert [line.split("``")[1] for line in lines] == ["toy", "slow_rf", "fast_rf"]
    assert lines[0].startswith("- ``toy`` (lm): **inconclusive** — alpha and beta not estimated (too few points")
    assert "optimal lr 0.0156 (n = 16) → 0.0156 (n = 32): no move resolved" in lines[0]
    assert lines[0].endswith("optimum at a grid edge at 2 of 2 widths")
    assert "**not fast** — fitted slopes: b\\_n -0.2 against a\\_n/2 -0.5" in lines[1]
    assert "**fast** — fitted slopes: b\\_n -0.9" in lines[2]
    html = publish_parts("\n".join(lines), writer="html", settings_overrides={"report_level": 1, "halt_level": 2})
    assert "system-message" not in html["body"]


def test_paper_figure_numbers():
    assert paper_figure("fig06") == 6 and paper_figure("fig33") == 33
    assert paper_figure("rates") is None and paper_figure("compare_sweeps") is None


def test_every_caption_file_includes_the_figure_jobs_part_and_renders_cleanly(tmp_path):
    """Each figure's caption file ends its own text by including the file its figure job writes
    (never a rule parameter, which Snakemake would also print raw under "job parameters"), and
    renders as Snakemake renders it (Jinja2, then reStructuredText) without a warning, also for
    figures the smoke preset does not draw."""
    from types import SimpleNamespace

    from jinja2 import Environment

    env = Environment(trim_blocks=True, lstrip_blocks=True)  # Snakemake's caption environment
    shared = figure_caption(smoke_config(), "fig06", ["results/studies/llama_adam_lr/transfer.nc"])
    fits = tmp_path / "fits.rst"
    fits.write_text(shared + "\n\n**In this run** (computed):\n\n- a statement\n")
    stub = SimpleNamespace(wildcards=SimpleNamespace(study="a_study"), output=SimpleNamespace(fits=str(fits)))
    for spec in CATALOGUE:
        path = REPO / "workflow" / "report" / f"{spec.figure_id}.rst"
        assert path.exists(), f"no caption {path.relative_to(REPO)} for figure {spec.figure_id}"
        source = path.read_text()
        assert source.rstrip().endswith(".. include:: {{ snakemake.output.fits }}"), path.name
        assert "snakemake.params" not in source, path.name
        text = env.from_string(source).render(snakemake=stub)
        try:
            body = publish_parts(text, writer="html", settings_overrides={"report_level": 5, "halt_level": 2})["body"]
        except Exception as exc:  # docutils.utils.SystemMessage names the line
            raise AssertionError(f"{path.name}: {exc}") from None
        assert "a statement" in text_of(body) and "Study: llama_adam_lr" in text_of(body), path.name


def test_no_figure_rule_passes_its_caption_as_a_parameter():
    rules = (REPO / "workflow" / "rules" / "figures.smk").read_text()
    assert "caption=partial" not in rules and "figure_caption" not in rules


# ------------------------------------------------------------------------------ the report


def report_results(report: Path) -> dict:
    """The report's result records (path → name, caption html, mime type, data URI, …)."""
    text = report.read_text(encoding="utf-8")
    m = re.search(r'<script id="results">\s*var results = (.*?);\s*</script>', text, re.S)
    assert m, "no result records in the report"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def report(smoke_run, tmp_path_factory):
    """A clone of the smoke run with results/report.html; (workdir, result records, seconds)."""
    work = clone_run(smoke_run, tmp_path_factory.mktemp("report") / "wf")
    start = time.monotonic()
    snakemake(work, "--report", "results/report.html", "--configfile", SMOKE, timeout=REPORT_TIMEOUT_S)
    seconds = time.monotonic() - start
    path = work / "results" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert "system-message" not in page, "reStructuredText errors in the report (front page or captions)"
    return work, report_results(path), seconds


@pytest.mark.slow
def test_report_has_every_figure_with_its_caption(report):
    work, results, seconds = report
    cfg = smoke_config()
    pngs = sorted(str(p.relative_to(work)) for p in (work / "results" / "figures").glob("*.png"))
    assert pngs, "the smoke run drew no figures"
    assert sorted(p for p in results if p.endswith(".png")) == pngs
    # the figure jobs' share of the captions: the fitted numbers, beside the figures
    fits = sorted(p.stem for p in (work / "results" / "figures" / "fits").glob("*.rst"))
    assert fits == sorted(Path(p).stem for p in pngs)
    for path in pngs:
        entry = results[path]
        assert entry["mime_type"] == "image/png" and entry["data_uri"].startswith("data:image/png"), path
        caption = entry["caption"]
        assert "system-message" not in caption, f"{path}: reStructuredText error in the caption:\n{caption}"
        text = text_of(caption)
        stem = Path(path).stem
        spec, study = all_figures(cfg)[stem]
        own = (REPO / "workflow" / "report" / f"{spec.figure_id}.rst").read_text()
        first_words = " ".join(own.split()[:4])
        assert "{{" not in first_words and first_words in text, f"{path}: figure description missing"
        if paper_figure(spec.figure_id) is not None:
            assert f"Paper figure: Fig {paper_figure(spec.figure_id)}" in text, path
        if study:
            assert f"Study: {study}" in text and "Settings:" in text, path
            for phrase in expected_settings(cfg["studies"][study]):
                assert phrase in text, (path, phrase)
    print(f"report of {len(pngs)} figures written in {seconds:.1f} s")


@pytest.mark.slow
def test_rates_captions_carry_the_fitted_numbers(report):
    """The captions of the rates figures give transfer.nc's fits and verdict, as summary.md does."""
    from hptransfer.analysis.summary import rates_block

    work, results, _ = report
    rates = [p for p in results if Path(p).name.startswith("rates_")]
    assert rates, "the smoke run has no rates figure"
    shown = []
    for path in rates:
        study = Path(path).stem.removeprefix("rates_")
        text = text_of(results[path]["caption"])
        with xr.open_dataset(work / "results" / "studies" / study / "transfer.nc") as t:
            t = t.load()
        block = publish_parts("\n".join(rates_block(t)), writer="html")["body"]
        assert text_of(block) in text, f"{path}: the fits of {study}/transfer.nc are not in the caption"
        assert f"verdict: {t['verdict'].values.item()}" in text, path
        fits = [
            float(t[name])
            for name in ("alpha", "beta", *t.data_vars)
            if t[name].ndim == 0
            and t[name].dtype.kind == "f"
            and str(name).startswith(("alpha", "beta", "fit_", "lr_law_"))
        ]
        shown += [x for x in fits if np.isfinite(x) and (format(x, ".4g") in text or format(x, ".3f") in text)]
    assert shown, "no finite fitted number in any rates caption: nothing shows that numbers get through"


def report_page(work: Path) -> tuple[str, dict]:
    """The report's front page (its rendered workflow description, HTML) and its categories
    (category → subcategory → result paths)."""
    text = (work / "results" / "report.html").read_text(encoding="utf-8")
    desc = re.search(r"workflow_desc = (.*?);\n", text)
    cats = re.search(r"var categories = (.*?);\n", text)
    assert desc and cats, "no front page or categories in the report"
    return json.loads(desc.group(1)), json.loads(cats.group(1))


@pytest.mark.slow
def test_no_caption_under_job_parameters(report):
    """A caption is rendered once, as text: no rule passes it as a parameter, which the report would
    print raw (with literal \\n) under "job parameters"."""
    _, results, _ = report
    for path, entry in results.items():
        params = entry["job_properties"]["params"]
        assert "caption" not in params and "Paper figure" not in params and "Fitted to" not in params, path
        assert "\\n" not in params, (path, params)


@pytest.mark.slow
def test_captions_state_what_the_data_of_the_run_show(report):
    """Every figure whose drawer states findings has them in its caption, computed from the run's
    datasets: Fig 7's caption gives the linearisation gap of sweep.nc, where it is largest and,
    exactly when some seed mean exceeds 5%, where it does."""
    import importlib

    from hptransfer.analysis.formatting import format_percent as pct
    from hptransfer.analysis.linearization import gap_summary

    work, results, _ = report
    for stem, (spec, study) in all_figures(smoke_config()).items():
        text = text_of(results[f"results/figures/{stem}.png"]["caption"])
        if hasattr(importlib.import_module(f"hptransfer.figures.{spec.module}"), "findings"):
            assert "In this run (computed by the figure job from the datasets drawn):" in text, stem
        assert "n/a + n/a" not in text and "n^-n/a" not in text, stem
    fig07 = [p for p in results if Path(p).name.startswith("fig07_")]
    assert fig07, "the smoke run has no Fig 7"
    for path in fig07:
        study = Path(path).stem.removeprefix("fig07_")
        text = text_of(results[path]["caption"])
        gap = gap_summary(xr.open_dataset(work / "results" / "studies" / study / "sweep.nc").load())
        worst_width, worst_value, worst = gap.worst
        assert f"largest seed mean {pct(worst)} at width {worst_width}, lr {worst_value:g}" in text, text
        assert ("seed mean above 5%" in text) == bool(gap.above), text
        assert "tracks the EMA loss closely" not in text


@pytest.mark.slow
def test_front_page_gives_a_verdict_per_study_then_every_figure(report):
    work, results, _ = report
    cfg = smoke_config()
    desc, categories = report_page(work)
    text = text_of(desc)
    assert "Verdicts" in text and "Figures" in text and text.index("Verdicts") < text.index("Figures")
    verdicts = text[text.index("Verdicts") : text.index("Figures")]
    for name, study in cfg["studies"].items():
        assert f"{name} ({study['kind']}):" in verdicts, name
        transfer = work / "results" / "studies" / name / "transfer.nc"
        if study["kind"] in ("lm", "twolayer") and transfer.exists():
            with xr.open_dataset(transfer) as t:
                assert f"{name} ({study['kind']}): {t['verdict'].values.item()} —" in verdicts, name
    # a thumbnail of every figure, showing the report's own image data (not a second copy)
    pngs = sorted(p for p in results if p.endswith(".png"))
    assert sorted(set(re.findall(r"results\['(results/figures/[^']+\.png)'\]\.data_uri", desc))) == pngs
    assert len(desc) < 100_000, "the front page embeds images instead of pointing at the report's"
    # one category per study (its figures and its summary), the study-independent schematic apart
    assert set(categories) == set(cfg["studies"]) | {"schematics"}
    for name, study in cfg["studies"].items():
        paths = [p for sub in categories[name].values() for p in sub]
        summary = {"compare": "comparison.md", "rf_ridge": None}.get(study["kind"], "summary.md")
        if summary:
            assert f"results/studies/{name}/{summary}" in paths, name


# ----------------------------------------------------------------------------- the browser


def require_chromium() -> str:
    """Chromium's executable; skip (fail under CI=true) where there is none."""
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    reason = "no Chromium (`chromium` not on PATH; install it with .ci/install-system.sh)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — CI=true, where the report test must run, not be skipped")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium():
    return require_chromium()


class DevTools:
    """Headless Chromium driven over --remote-debugging-pipe (fd 3: commands in, fd 4: replies out)."""

    def __init__(self, exe: str, profile: Path):
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        # above 10, so that placing them on 3 and 4 in the child cannot overwrite one with the other
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser)]
        for fd in (to_browser, from_browser):
            os.close(fd)

        def on_3_and_4():
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        args = [
            exe,
            "--headless",
            "--remote-debugging-pipe",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--mute-audio",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.log = profile.parent / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=on_3_and_4, close_fds=False
            )
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.session = None

    def call(self, method: str, timeout: float = 60, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(
                    f"no reply from Chromium (exit {self.proc.poll()}); log:\n"
                    + self.log.read_text(errors="replace")[-3000:]
                )
            if select.select([self._from_browser], [], [], min(left, 1.0))[0]:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise AssertionError(
                        "Chromium closed the pipe; log:\n" + self.log.read_text(errors="replace")[-3000:]
                    )
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str, timeout: float = 60):
        result = self.call(
            "Runtime.evaluate", timeout=timeout, expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def close(self) -> None:
        self.session = None
        try:
            self.call("Browser.close", timeout=10)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


# Shows one result as a click on it does, then waits for the image: its size once decoded, and
# whether the caption's first words are on the page.
SHOW_FIGURE = """
(async (path, words) => {
  const entry = results[path];
  // one state change: the result's info panel (with the caption) and the image, as clicks do
  app.setView({navbarMode: "resultinfo", content: "img", contentPath: entry.data_uri, resultPath: path});
  for (let i = 0; i < 600; i++) {
    await new Promise(r => setTimeout(r, 50));
    const img = Array.from(document.images).find(im => im.src === entry.data_uri);
    if (img && img.complete) {
      if (img.naturalWidth > 0) { try { await img.decode(); } catch (e) {} }
      return {width: img.naturalWidth, height: img.naturalHeight,
              caption: document.body.innerText.replace(/\\s+/g, " ").includes(words)};
    }
  }
  return {width: -1, height: -1, caption: false};
})(%s, %s)
"""


@pytest.mark.slow
def test_report_figures_load_in_headless_chromium(chromium, report, tmp_path):
    work, results, _ = report
    pngs = sorted(p for p in results if p.endswith(".png"))
    browser = DevTools(chromium, tmp_path / "profile")
    start = time.monotonic()
    try:
        browser.open((work / "results" / "report.html").as_uri())
        deadline = time.monotonic() + BROWSER_TIMEOUT_S
        # `app` is set once React has mounted the report's App
        while not browser.evaluate(
            "document.readyState === 'complete' && typeof results === 'object' "
            "&& typeof app === 'object' && app !== null"
        ):
            assert time.monotonic() < deadline, "the report did not finish loading"
            time.sleep(0.5)
        assert sorted(browser.evaluate("Object.keys(results).filter(p => p.endsWith('.png'))")) == pngs
        failures = []
        for path in pngs:
            words = " ".join(text_of(results[path]["caption"]).split()[:5])
            shown = browser.evaluate(SHOW_FIGURE % (json.dumps(path), json.dumps(words)), timeout=60)
            if shown["width"] <= 0 or shown["height"] <= 0 or not shown["caption"]:
                failures.append(f"{path}: {shown}")
        assert not failures, "figures that did not load or lack their caption:\n" + "\n".join(failures)
    finally:
        browser.close()
    print(f"{len(pngs)} figures shown in Chromium in {time.monotonic() - start:.1f} s")


# What the landing page shows without a click: the front page's verdicts and thumbnails (decoded),
# where they sit against the viewport and the rule graph.
LANDING = """
(async () => {
  for (let i = 0; i < 600; i++) {
    const imgs = Array.from(document.querySelectorAll('.hpt-thumb img'));
    if (imgs.length && imgs.every(im => im.complete && im.naturalWidth > 1)) break;
    await new Promise(r => setTimeout(r, 50));
  }
  const top = el => el ? el.getBoundingClientRect().top : null;
  const imgs = Array.from(document.querySelectorAll('.hpt-thumb img'));
  const last = imgs.length ? imgs[imgs.length - 1].getBoundingClientRect().bottom : null;
  return {front: !!document.getElementById('hptransfer-front'), content: app.state.content,
          thumbs: imgs.length, decoded: imgs.filter(im => im.naturalWidth > 1).length,
          verdicts: top(document.getElementById('verdicts')), firstThumb: top(imgs[0]), lastThumb: last,
          rulegraph: top(document.getElementById('rulegraph')), height: window.innerHeight};
})()
"""

# A click on a thumbnail: the figure in the content area and its caption in the side panel.
CLICK_THUMB = """
(async (path, words) => {
  const thumb = Array.from(document.querySelectorAll('.hpt-thumb')).find(f => f.getAttribute('onclick').includes(path));
  thumb.click();
  for (let i = 0; i < 600; i++) {
    await new Promise(r => setTimeout(r, 50));
    const img = Array.from(document.images).find(im => im.src === results[path].data_uri && !im.closest('.hpt-thumb'));
    if (img && img.complete) {
      return {content: app.state.content, path: app.state.resultPath, width: img.naturalWidth,
              caption: document.body.innerText.replace(/\\s+/g, " ").includes(words)};
    }
  }
  return {content: app.state.content, path: app.state.resultPath, width: -1, caption: false};
})(%s, %s)
"""


@pytest.mark.slow
def test_landing_page_shows_verdicts_and_figures_before_the_rule_graph(chromium, report, tmp_path):
    work, results, _ = report
    pngs = sorted(p for p in results if p.endswith(".png"))
    browser = DevTools(chromium, tmp_path / "profile")
    try:
        browser.open((work / "results" / "report.html").as_uri())
        browser.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
        deadline = time.monotonic() + BROWSER_TIMEOUT_S
        while not browser.evaluate(
            "document.readyState === 'complete' && typeof app === 'object' && app !== null "
            "&& !!document.getElementById('rulegraph')"
        ):
            assert time.monotonic() < deadline, "the report did not finish loading"
            time.sleep(0.5)
        page = browser.evaluate(LANDING, timeout=60)
        assert page["front"] and page["content"] == "rulegraph", page  # Snakemake's landing view
        assert page["thumbs"] == page["decoded"] == len(pngs), page
        # the first screen: the verdicts and the first figures; the rule graph only after every figure
        assert 0 <= page["verdicts"] < page["firstThumb"] < page["height"], page
        assert page["rulegraph"] >= page["lastThumb"], page
        path = next(p for p in pngs if Path(p).name.startswith("fig07_"))
        words = " ".join(text_of(results[path]["caption"]).split()[:5])
        shown = browser.evaluate(CLICK_THUMB % (json.dumps(path), json.dumps(words)), timeout=60)
        assert shown == {"content": "img", "path": path, "width": shown["width"], "caption": True}, shown
        assert shown["width"] > 0, shown
    finally:
        browser.close()
