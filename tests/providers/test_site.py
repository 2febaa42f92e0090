"""The starter page over a real SSH login to the local OpenSSH server: the provider contract."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from providers.core.config import current
from providers.site import StarterPageProvider
from tests.providers.conftest import reconfigure, restore_config
from tests.providers.contract import ProviderContract
from tests.providers.tcp_proxy import DroppingProxy


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class TestStarterPageContract(ProviderContract):
    @pytest.fixture(autouse=True)
    def _server(self, settings, tmp_path):
        self.address = settings.SSH_ADDRESS
        self.user = settings.SITES_SSH_USER
        self.root = tmp_path
        self.inputs_made: dict = {}
        self.proxy = None
        yield
        self.clear_faults()
        if self.proxy is not None:
            self.proxy.close()

    def make_provider(self):
        return StarterPageProvider()

    def new_inputs(self, unique):
        # The SSH server runs on this machine: the document root is a local directory.
        self.inputs_made = {"ssh_address": self.address, "ssh_user": self.user,
                            "document_root": str(self.root / f"site-{unique}" / "public_html"),
                            "content": f"<h1>Welcome {unique}</h1>"}
        return self.inputs_made

    def invalid_inputs(self, inputs):
        return [
            ({**inputs, "document_root": "relative/path"}, "document_root"),
            ({**inputs, "ssh_address": ""}, "ssh_address"),
            ({**inputs, "ssh_user": None}, "ssh_user"),
        ]

    def in_place_change(self, inputs):
        return {**inputs, "content": "<h1>Changed</h1>"}, "content"

    def replacing_change(self, inputs):
        return {**inputs, "document_root": inputs["document_root"] + "-moved"}, "document_root"

    def expected_outputs(self, inputs):
        return {"path": inputs["document_root"] + "/index.html", "content_sha256": _sha256(inputs["content"]),
                "ssh_address": inputs["ssh_address"], "ssh_user": inputs["ssh_user"]}

    def exists_upstream(self, id_, outs):
        return Path(outs.get("path") or outs["document_root"] + "/index.html").is_file()

    def make_drift(self, id_, outs):
        Path(outs["path"]).write_text("defaced")
        return "content_sha256"

    def create_behind_pulumi(self, inputs):
        page = Path(inputs["document_root"]) / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("left by a crash")

    def inject_fault(self, transient):
        if transient:
            host, port = self.address.rsplit(":", 1)
            self.proxy = DroppingProxy((host, int(port)), drop=1)
            # The address is an input: the contract's inputs are the dict new_inputs returned.
            self.inputs_made["ssh_address"] = f"127.0.0.1:{self.proxy.port}"
        else:
            # A key the server does not know: OpenSSH says "Permission denied", which no retry fixes.
            reconfigure(SITES_SSH_KEY_PATH=str(self.root / "no-such-key"))

    def fault_fired(self):
        return self.proxy is not None and self.proxy.accepted >= 2

    def clear_faults(self):
        # The proxy stays until the test ends: the page it made is recorded under its address.
        restore_config()

    def test_the_page_on_disk_is_the_content_given(self, provider, created):
        _, outs = created
        assert Path(outs["path"]).read_text() == outs["content"]
        assert current().SSH_KNOWN_HOSTS
