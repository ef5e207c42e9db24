"""The Snakemake report: every figure with an informative caption, and figures that really load.

* Captions (no run needed): the shared part of every figure's caption, :func:`hptransfer.report.
  figure_caption`, is valid reStructuredText for every figure the smoke preset draws and names the
  paper figure, the study and its settings.
* ``snakemake --report results/report.html`` on a clone of the finished smoke run (``smoke_run`` in
  conftest.py): every figure PNG of the run is in the report, each with its caption (description,
  study settings, paper figure), and the captions of the rates figures carry the numbers fitted in
  transfer.nc.
* Headless Chromium opens the report and, for every figure, does what a click on it does (the
  report app's ``setView`` with the result's info panel and its image); the image must decode (``naturalWidth > 0``)
  and the caption must be on the page. Chromium is driven through the DevTools protocol over a pipe
  (``--remote-debugging-pipe``: JSON messages separated by NUL bytes on fds 3 and 4), standard
  library only, no network.

Without Chromium (``chromium``, Debian's package; .ci/install-system.sh installs it) the browser
test is skipped with the reason, except under ``CI=true``, where it fails instead.
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


def test_paper_figure_numbers():
    assert paper_figure("fig06") == 6 and paper_figure("fig33") == 33
    assert paper_figure("rates") is None and paper_figure("compare_sweeps") is None


def test_every_caption_file_includes_the_shared_part_and_renders_cleanly():
    """Each figure's caption file ends its own text with the shared part built from the config, and
    renders as Snakemake renders it (Jinja2, then reStructuredText) without a warning, also for
    figures the smoke preset does not draw."""
    from types import SimpleNamespace

    from jinja2 import Environment

    env = Environment(trim_blocks=True, lstrip_blocks=True)  # Snakemake's caption environment
    shared = figure_caption(smoke_config(), "fig06", ["results/studies/llama_adam_lr/transfer.nc"])
    stub = SimpleNamespace(wildcards=SimpleNamespace(study="a_study"), params=SimpleNamespace(caption=shared))
    for spec in CATALOGUE:
        path = REPO / "workflow" / "report" / f"{spec.figure_id}.rst"
        assert path.exists(), f"no caption {path.relative_to(REPO)} for figure {spec.figure_id}"
        source = path.read_text()
        assert "{{ snakemake.params.caption }}" in source, path.name
        text = env.from_string(source).render(snakemake=stub)
        try:
            publish_parts(text, writer="html", settings_overrides={"report_level": 5, "halt_level": 2})
        except Exception as exc:  # docutils.utils.SystemMessage names the line
            raise AssertionError(f"{path.name}: {exc}") from None


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
