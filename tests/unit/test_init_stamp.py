"""`terraform init` runs again only when what it reads changed (real binary, tiny roots)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stackctl.errors import TerraformError
from stackctl.init_stamp import STAMP
from stackctl.terraform import Terraform

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tf"
TF_BIN = shutil.which("terraform") or shutil.which("tofu")
pytestmark = pytest.mark.skipif(TF_BIN is None, reason="needs terraform or tofu on PATH")


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "two_modules"
    shutil.copytree(FIXTURES / "two_modules", root)
    return root


def test_a_second_init_with_the_same_inputs_is_skipped_and_the_plan_still_works(root):
    assert Terraform(root, TF_BIN).init() is True
    modules_json = (root / ".terraform/modules/modules.json").read_bytes()
    tf = Terraform(root, TF_BIN, env={"TF_VAR_token": "t", "TF_VAR_delay": "0"})
    assert tf.init() is False
    assert tf.plan(save=False).summary == {"add": 2, "change": 0, "destroy": 0}
    assert (root / ".terraform/modules/modules.json").read_bytes() == modules_json


def test_a_changed_module_call_runs_init_again_and_terraform_sees_the_new_module(root):
    Terraform(root, TF_BIN).init()
    with (root / "main.tf").open("a") as main:  # a module call init has not installed
        main.write('\nmodule "gamma" {\n  source = "./modules/svc"\n  name   = "gamma"\n  delay  = 0\n}\n')
    tf = Terraform(root, TF_BIN, env={"TF_VAR_token": "t", "TF_VAR_delay": "0"})
    assert tf.init() is True
    assert "module.gamma.terraform_data.this" in {address for address, _ in tf.plan(save=False).changes}


def test_a_removed_data_dir_a_changed_cli_config_or_env_runs_init_again(root, tmp_path):
    Terraform(root, TF_BIN).init()
    shutil.rmtree(root / ".terraform")
    assert Terraform(root, TF_BIN).init() is True
    assert Terraform(root, TF_BIN, env={"TF_CLI_ARGS_init": "-upgrade"}).init() is True
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    assert Terraform(root, TF_BIN, mirror_dir=str(mirror)).init() is True  # TF_CLI_CONFIG_FILE now set
    assert Terraform(root, TF_BIN, mirror_dir=str(mirror)).init() is False


def test_a_failed_init_leaves_no_stamp_so_the_next_one_runs(root):
    Terraform(root, TF_BIN).init()
    assert (root / ".terraform" / STAMP).is_file()
    (root / "broken.tf").write_text('module "nowhere" {\n  source = "./does-not-exist"\n}\n')
    with pytest.raises(TerraformError):
        Terraform(root, TF_BIN).init()
    assert not (root / ".terraform" / STAMP).exists()
    (root / "broken.tf").unlink()
    assert Terraform(root, TF_BIN).init() is True


def test_a_dangling_provider_link_from_a_cleaned_cache_runs_init_again(root, tmp_path):
    Terraform(root, TF_BIN).init()
    link = root / ".terraform/providers/registry.terraform.io/example/gone/1.0.0/linux_amd64"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "cache-entry-that-was-removed")
    assert Terraform(root, TF_BIN).init() is True
