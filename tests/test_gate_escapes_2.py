"""Escapes of auto-allowed programs, part 2 (issue 12): code a command line does not
show, network egress, socat's addresses, libraries named inside option values.

Every case was written for this project from the programs' own manuals (dpkg(1), rpm(8),
yum(8), snap, tmux(1), crontab(1), socat(1), smbclient(1), sysctl(8), gdb(1), strace(1));
no third-party escape catalogue is copied. The constitution of each case auto-allows the
program with a wildcard (``"PROG *"``): the pattern allows the program, not what it will
run, so none of these may come out ``allow``; the harmless uses next to them must.
Where a case claims what bash or a program does (quote removal gives the same argv, a
tmux session without a command runs a shell, socat ``OPEN:F,creat`` writes F), the
claim is checked against the real program in a temporary directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from charter.actions import catalogue as catalogue_mod
from charter.actions.catalogue import CatalogueError
from charter.actions.constitution import parse_text
from charter.actions.gate import GATE_NETWORK, Gate
from charter.core.verdict import Verdict

BASH = shutil.which("bash")
SOCAT = shutil.which("socat")
TMUX = shutil.which("tmux")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def gate_for(auto: list[str], work: Path | None = None) -> Gate:
    limits = ""
    if work is not None:
        limits = (
            f'[resource_limits]\nallowed_directories = ["{work}"]\n'
            'blocked_directories = ["/etc", "~/.ssh"]\n'
        )
    text = (
        '[identity]\nversion = "1.0.0"\n[boundaries]\nforbidden = []\n'
        f"requires_approval = []\nauto_allowed = {json.dumps(auto)}\n{limits}"
    )
    return Gate(parse_text(text))


def verdict(gate: Gate, command: str, cwd: Path | str = "/tmp") -> Verdict:
    return gate.decide_command(command, str(cwd)).verdict


def wildcard(*programs: str) -> Gate:
    return gate_for([f"{p} *" for p in programs] + list(programs))


def argv_of(command: str, cwd: Path) -> list[str]:
    """The argv real bash builds for ``command`` (its words, one a line, NUL-safe)."""
    assert BASH is not None
    out = subprocess.run(  # noqa: S603 - a fixed bash, a test string
        [BASH, "-c", f"printf '%s\\0' {command}"], cwd=cwd, capture_output=True, check=True
    ).stdout
    return out.decode().split("\0")[:-1]


# ------------------------------------------------- package installs from a file


INSTALLS = [
    ("dpkg", "dpkg -i pkg_1.0_all.deb"),
    ("dpkg", "dpkg --install ./pkg_1.0_all.deb"),
    ("dpkg", "dpkg --unpack pkg.deb"),
    ("rpm", "rpm -ivh pkg-1.0.noarch.rpm"),
    ("rpm", "rpm -vih pkg.rpm"),  # the same cluster, letters in another order
    ("rpm", "rpm -Uvh pkg.rpm"),
    ("rpm", "rpm --upgrade=pkg.rpm"),
    ("rpm", "rpm -F pkg.rpm"),
    ("yum", "yum localinstall -y pkg.rpm"),
    ("yum", "yum install -y ./pkg.rpm"),
    ("yum", "yum -c ./y.conf install https://host.example/p.rpm"),
    ("dnf", "dnf install -y pkg-1.0-1.noarch.rpm --disablerepo=*"),
    ("apt", "apt install ./pkg.deb"),
    ("apt-get", "apt-get install -y /tmp/pkg.deb"),
    ("pkg", "pkg add pkg.txz"),
    ("pkg", "pkg install -y ./pkg-1.0.txz"),
    ("snap", "snap install app_1.0.snap --dangerous"),
    ("snap", "snap install --dangerous=true app"),
    ("snap", "snap try ./squashfs-root"),
    ("apk", "apk add --allow-untrusted app.apk"),
    ("pacman", "pacman -U app.pkg.tar.zst"),
    ("zypper", "zypper in ./app.rpm"),
    ("gem", "gem install ./local.gem"),
]


@pytest.mark.parametrize(("program", "command"), INSTALLS)
def test_a_package_from_a_file_or_url_runs_its_scripts(program: str, command: str) -> None:
    d = wildcard(program).decide_command(command, "/tmp")
    assert d.verdict is Verdict.ASK, (command, [r.msg for r in d.reasons])
    assert any("package" in r.msg or "snap" in r.msg or "gem" in r.msg for r in d.reasons)


@pytest.mark.parametrize(
    ("program", "command"),
    [
        ("dpkg", "dpkg -l"),
        ("dpkg", "dpkg -L coreutils"),
        ("dpkg", "dpkg -S /bin/ls"),
        ("rpm", "rpm -qa"),
        ("rpm", "rpm -qf /usr/bin/ls"),
        ("yum", "yum install -y jq"),
        ("yum", "yum list installed"),
        ("apt", "apt install ripgrep"),
        ("apt-get", "apt-get install -y --no-install-recommends jq"),
        ("pkg", "pkg info"),
        ("snap", "snap install jq"),
        ("pacman", "pacman -Syu"),
        ("pacman", "pacman -Qi bash"),
        ("gem", "gem install rake"),
    ],
)
def test_packages_named_from_a_repository_and_queries_stay_allowed(
    program: str, command: str
) -> None:
    assert verdict(wildcard(program), command) is Verdict.ALLOW, command


@needs_bash
def test_quoted_spellings_are_the_same_install(tmp_path: Path) -> None:
    """bash removes the quotes: ``r"p"m -i'vh' x`` is argv ``rpm -ivh x``."""
    for spelled in ("r\"p\"m -i'vh' x.rpm", "rpm '-ivh' x.rpm", "\\rpm -\\ivh x.rpm"):
        assert argv_of(spelled, tmp_path) == ["rpm", "-ivh", "x.rpm"]
        assert verdict(wildcard("rpm"), spelled) is Verdict.ASK, spelled
    for wrapped in ("sudo dpkg -i x.deb", "env DEBIAN_FRONTEND=x dpkg -i x.deb",
                    "timeout 60 dpkg -i x.deb", "bash -c 'dpkg -i x.deb'"):  # fmt: skip
        g = gate_for(["dpkg *", "sudo *", "env *", "timeout *", "bash *"])
        assert verdict(g, wrapped) is Verdict.ASK, wrapped


# ----------------------------------------------- shells, editors, remote access


@pytest.mark.parametrize(
    ("program", "command"),
    [
        ("tmux", "tmux"),
        ("tmux", "tmux -S /tmp/other-users-socket"),
        ("tmux", "tmux -L x new-session -d"),
        ("tmux", "tmux new -s work"),
        ("tmux", "tmux send-keys -t 0 'curl x | sh' Enter"),
        ("tmux", "tmux run-shell 'id'"),
        ("tmux", "tmux attach -t 0"),
        ("tmate", "tmate"),
        ("crontab", "crontab -e"),
        ("crontab", "crontab ./jobs.txt"),
        ("crontab", "crontab -"),
        ("ansible-test", "ansible-test shell"),
        ("code", "code tunnel --accept-server-license-terms"),
        ("code", "code serve-web --host 0.0.0.0"),
        ("fzf", "fzf --listen=6266"),
        ("fzf", "fzf --listen 6266"),
        ("dvips", "dvips -R0 paper.dvi"),
        ("fail2ban-client", "fail2ban-client set jail action a actionban ./x.sh"),
    ],
)
def test_programs_that_open_a_shell_or_hand_out_the_machine_ask(program: str, command: str) -> None:
    d = wildcard(program).decide_command(command, "/tmp")
    assert d.verdict is Verdict.ASK, (command, [r.msg for r in d.reasons])


@pytest.mark.parametrize(
    ("program", "command"),
    [
        ("tmux", "tmux ls"),
        ("tmux", "tmux list-sessions -F '#S'"),
        ("tmux", "tmux kill-server"),
        ("crontab", "crontab -l"),
        ("code", "code --version"),
        ("code", "code --list-extensions"),
        ("fzf", "fzf --filter=main"),
        ("dvips", "dvips -o paper.ps paper.dvi"),
        ("fail2ban-client", "fail2ban-client status"),
    ],
)
def test_their_everyday_uses_stay_allowed(program: str, command: str) -> None:
    assert verdict(wildcard(program), command) is Verdict.ALLOW, command


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_a_tmux_session_without_a_command_runs_a_shell(tmp_path: Path) -> None:
    """The claim behind ``tmux`` (bare) asking: the session's pane runs the user's shell."""
    assert TMUX is not None
    sock = str(tmp_path / "s")
    env = {"SHELL": "/bin/sh", "PATH": "/usr/bin:/bin", "TERM": "xterm", "HOME": str(tmp_path)}
    try:
        subprocess.run(  # noqa: S603 - fixed program, test socket
            [TMUX, "-S", sock, "-f", "/dev/null", "new-session", "-d"], env=env, check=True,
            timeout=20,
        )  # fmt: skip
        out = subprocess.run(  # noqa: S603
            [TMUX, "-S", sock, "list-panes", "-F", "#{pane_current_command}"],
            env=env, capture_output=True, text=True, check=True, timeout=20,
        ).stdout  # fmt: skip
        assert out.strip() == "sh"
    finally:
        subprocess.run([TMUX, "-S", sock, "kill-server"], env=env, check=False, timeout=20)  # noqa: S603
    assert verdict(wildcard("tmux"), f"tmux -S {sock} new-session -d") is Verdict.ASK


# ------------------------------------------ processes, kernel, containers, VMs


@pytest.mark.parametrize(
    ("program", "command"),
    [
        ("gcore", "gcore 1234"),
        ("gcore", "gcore -o core $PID"),
        ("gdb", "gdb -p 1234 -batch"),
        ("gdb", "gdb --pid=1234"),
        ("strace", "strace -p 1234"),
        ("strace", "strace -fp 1234"),
        ("ltrace", "ltrace -p 1234"),
        ("sysctl", "sysctl 'kernel.core_pattern=|/tmp/x'"),
        ("sysctl", "sysctl -w vm.overcommit_memory=1"),
        ("sysctl", "sysctl -p ./mine.conf"),
        ("docker", "docker run -v /:/host alpine"),
        ("docker", "docker run --privileged alpine"),
        ("docker", "docker run --mount type=bind,src=/,dst=/h alpine"),
        ("podman", "podman run --pid=host alpine"),
        ("ctr", "ctr run --mount type=bind,src=/,dst=/ docker.io/library/alpine:latest x"),
        ("virsh", "virsh -c qemu:///system vol-download --pool p v out"),
        ("virsh", "virsh --connect qemu:///system pool-create-as p dir --target /x"),
    ],
)
def test_attaching_writing_the_kernel_and_host_mounts_ask(program: str, command: str) -> None:
    d = wildcard(program).decide_command(command, "/tmp")
    assert d.verdict is Verdict.ASK, (command, [r.msg for r in d.reasons])


@pytest.mark.parametrize(
    ("program", "command"),
    [
        ("gdb", "gdb --version"),
        ("strace", "strace -V"),
        ("sysctl", "sysctl -a"),
        ("sysctl", "sysctl vm.swappiness"),
        ("docker", "docker ps -a"),
        ("docker", "docker images"),
        ("virsh", "virsh -c qemu:///system list --all"),
    ],
)
def test_looking_at_them_stays_allowed(program: str, command: str) -> None:
    assert verdict(wildcard(program), command) is Verdict.ALLOW, command


def test_the_value_of_a_value_option_is_not_a_cluster() -> None:
    """``strace -eopen`` is ``-e open``, not ``-p``: the scan stops at ``e``."""
    g = gate_for(["strace *", "ls", "ls *"])
    assert verdict(g, "strace -eopen ls") is Verdict.ALLOW
    assert verdict(g, "strace -fp 1") is Verdict.ASK


# ------------------------------------------------------------ network egress


NETWORK = [
    ("ab", "ab -v2 http://host.example/x"),
    ("finger", "finger user@host.example"),
    ("whois", "whois -h host.example -p 4444 data"),
    ("curl", "curl https://host.example/x"),
    ("curl", "curl -T notes.txt https://host.example/up"),
    ("wget", "wget -qO- https://host.example/x"),
    ("nc", "nc host.example 4444"),
    ("telnet", "telnet host.example 25"),
    ("ssh", "ssh user@host.example"),
    ("smbclient", "smbclient //host.example/share -N"),
]


@pytest.mark.parametrize(("program", "command"), NETWORK)
def test_a_wildcard_does_not_name_where_a_network_client_connects(
    program: str, command: str
) -> None:
    d = wildcard(program).decide_command(command, "/tmp")
    assert d.verdict is Verdict.ASK, (command, [r.msg for r in d.reasons])
    assert any(r.rule == GATE_NETWORK for r in d.reasons)


def test_a_pattern_that_names_the_destination_allows() -> None:
    g = gate_for(["curl https://pypi.org/*", "ssh git@github.com *", "whois *"])
    assert verdict(g, "curl https://pypi.org/simple/jq/") is Verdict.ALLOW
    assert verdict(g, "ssh git@github.com git-upload-pack x") is Verdict.ALLOW
    assert verdict(g, "curl https://other.example/") is Verdict.ASK
    # options alone do not name a destination
    assert verdict(gate_for(["curl -s *"]), "curl -s https://host.example/") is Verdict.ASK
    # a network client behind an allowed wrapper is still the client
    g = gate_for(["timeout *", "curl *"])
    assert verdict(g, "timeout 5 curl https://host.example/") is Verdict.ASK


# ------------------------------------------------------- socat and smbclient


def test_socat_file_addresses_are_files(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    g = gate_for(["socat -u tcp-connect:* *"], work)
    # the pattern names the destination; the file it writes decides
    assert verdict(g, "socat -u tcp-connect:h:1 open:out.txt,creat", work) is Verdict.ALLOW
    for command in ("socat -u tcp-connect:h:1 open:/etc/cron.d/x,creat",
                    "socat -u tcp-connect:h:1 CREATE:../outside",
                    "socat -u tcp-connect:h:1 /etc/profile.d/x.sh",
                    "socat -u tcp-connect:h:1 GOPEN:~/.ssh/authorized_keys"):  # fmt: skip
        assert verdict(g, command, work) is not Verdict.ALLOW, command
    assert verdict(g, "socat -u tcp-connect:h:1 gopen:/etc/shadow", work) is Verdict.DENY


def test_socat_exec_and_system_addresses_are_commands() -> None:
    g = gate_for(["socat *", "ls", "ls *"])
    for command in ("socat - exec:'rm -rf x'", "socat - SYSTEM:id", "socat - exec:/bin/sh,pty"):
        assert verdict(g, command) is Verdict.ASK, command
    strict = Gate(
        parse_text(
            '[identity]\nversion = "1.0.0"\n[boundaries]\nforbidden = ["rm -rf *"]\n'
            'auto_allowed = ["socat *"]\n'
        )
    )
    assert verdict(strict, "socat - 'EXEC:rm -rf /home'") is Verdict.DENY


@pytest.mark.skipif(SOCAT is None, reason="socat is not installed")
def test_socat_open_creat_writes_the_file(tmp_path: Path) -> None:
    """The claim behind the socat rule: ``OPEN:F,creat`` creates and writes F."""
    assert SOCAT is not None
    subprocess.run(  # noqa: S603 - fixed program, test paths
        [SOCAT, "-u", "SYSTEM:echo written", f"OPEN:{tmp_path / 'out'},creat"],
        check=True, timeout=20,
    )  # fmt: skip
    assert (tmp_path / "out").read_text() == "written\n"


def test_smbclient_commands_are_code() -> None:
    g = gate_for(["smbclient //files.example/share *"])
    assert verdict(g, "smbclient //files.example/share -N") is Verdict.ALLOW
    for command in ("smbclient //files.example/share -c 'get a /etc/cron.d/x'",
                    "smbclient //files.example/share --command='!id'"):  # fmt: skip
        assert verdict(g, command) is Verdict.ASK, command


# ------------------------------------------------ libraries inside option values


def test_a_library_named_inside_an_option_value_may_be_loaded() -> None:
    g = gate_for(["ffmpeg *", "gcc *", "mytool *"])
    for command in ("ffmpeg -i in.wav -af ladspa=file=/tmp/x/lib.so out.wav",
                    "gcc -fplugin=/tmp/p.so x.c", "mytool --engine=./e.so.1",
                    "mytool --plugin=/opt/p.dylib"):  # fmt: skip
        assert verdict(g, command) is Verdict.ASK, command
    for command in ("gcc -shared -o build/libx.so x.c", "ffmpeg -i in.wav out.mp3",
                    "mytool --out=build/x.o"):  # fmt: skip
        assert verdict(g, command) is Verdict.ALLOW, command


# ------------------------------------------------------------- the catalogue


def test_unseen_entries_are_checked_when_read() -> None:
    base = (
        "[environment]\nhijack = []\nhijack_prefixes = []\nruns = []\n"
        '[groups]\n[git.subcommands."*"]\n'
    )
    good = catalogue_mod.parse(base + '[programs.x.unseen]\nwhy = "w"\noptions = ["-i"]\n')
    assert good.programs["x"].unseen is not None
    with pytest.raises(CatalogueError, match="why"):
        catalogue_mod.parse(base + '[programs.x.unseen]\noptions = ["-i"]\n')
    with pytest.raises(CatalogueError, match="unknown key"):
        catalogue_mod.parse(base + '[programs.x.unseen]\nwhy = "w"\nsubcomands = ["a"]\n')
    with pytest.raises(CatalogueError, match="bare"):
        catalogue_mod.parse(base + '[programs.x.unseen]\nwhy = "w"\nbare = "yes"\n')


def test_every_network_client_asks_under_a_wildcard() -> None:
    for prog in sorted(catalogue_mod.CATALOGUE.network_clients):
        d = wildcard(prog).decide_command(f"{prog} host.example", "/tmp")
        assert d.verdict is Verdict.ASK, prog


def test_option_values_do_not_hide_an_install_subcommand() -> None:
    """A long option's separate value reads as an operand to a generic scan."""
    g = wildcard("yum", "apt-get")
    for command in ("yum --enablerepo extras install ./p.rpm",
                    "apt-get -o Dpkg::Options::=--force-all install ./x.deb",
                    "apt-get --target-release sid install ../x.deb"):  # fmt: skip
        assert verdict(g, command) is Verdict.ASK, command
    assert verdict(g, "yum --enablerepo extras install jq") is Verdict.ALLOW


def test_a_bare_crontab_reads_a_crontab_from_stdin() -> None:
    g = wildcard("crontab")
    for command in ("crontab", "crontab -u root", "echo '* * * * * id' | crontab"):
        assert verdict(gate_for(["crontab *", "crontab", "echo *"]), command) is Verdict.ASK
    for command in ("crontab -l", "crontab -u me -l"):
        assert verdict(g, command) is Verdict.ALLOW, command


def test_apt_name_and_release_is_not_a_file() -> None:
    g = wildcard("apt")
    assert verdict(g, "apt install -t bookworm-backports foo/bookworm-backports") is Verdict.ALLOW
    for command in ("apt install sub/x.deb", "apt install ../x.deb", "apt install ~/x.deb"):
        assert verdict(g, command) is Verdict.ASK, command


def test_tmux_config_files_and_server_start_run_commands() -> None:
    g = wildcard("tmux")
    for command in ("tmux -f ./conf ls", "tmux start-server", "tmux -L x start"):
        assert verdict(g, command) is Verdict.ASK, command


def test_a_compose_file_configures_docker(tmp_path: Path) -> None:
    g = gate_for(["echo *", "docker *"], tmp_path)
    assert verdict(g, "echo 'privileged: true' >> compose.yaml", tmp_path) is Verdict.ASK
    assert verdict(g, "echo x >> notes.txt", tmp_path) is Verdict.ALLOW


def test_rsync_to_a_remote_is_network_egress(tmp_path: Path) -> None:
    g = gate_for(["rsync *"], tmp_path)
    for command in ("rsync -a . host.example:/backup", "rsync -a src/ user@host.example:x",
                    "rsync rsync://host.example/mod/ dst/", "rsync -e ssh . h:"):  # fmt: skip
        assert verdict(g, command, tmp_path) is Verdict.ASK, command
    for command in ("rsync -a src/ dst/", "rsync -av --exclude=*.o ./ ./out/"):
        assert verdict(g, command, tmp_path) is Verdict.ALLOW, command
    named = gate_for(["rsync * backup.example:*"], tmp_path)
    assert verdict(named, "rsync -a . backup.example:/b", tmp_path) is Verdict.ALLOW


def test_makepkg_build_files_configure(tmp_path: Path) -> None:
    g = gate_for(["echo *", "makepkg *"], tmp_path)
    for target in ("PKGBUILD", "etc/makepkg.conf"):
        (tmp_path / "etc").mkdir(exist_ok=True)
        assert verdict(g, f"echo 'x;/bin/sh' > {target}", tmp_path) is Verdict.ASK, target


@needs_bash
def test_spellings_and_wrappers_do_not_hide_a_network_client(tmp_path: Path) -> None:
    """bash gives ``c\\url``, ``"cu"rl`` and ``$'curl'`` the argv of ``curl``."""
    for spelled in ("c\\url x", '"cu"rl x', "$'curl' x"):
        assert argv_of(spelled, tmp_path) == ["curl", "x"], spelled
    g = gate_for(["curl *", "busybox *", "nice *", "command *", "wget *", "echo *", "xargs *"])
    for command in ("c\\url x", '"cu"rl x', "$'curl' x", "/usr/bin/curl x", "command curl x",
                    "busybox wget https://x", "nice -n 5 curl x", "exec curl x",
                    "echo https://x | xargs curl"):  # fmt: skip
        assert verdict(g, command) is Verdict.ASK, command
