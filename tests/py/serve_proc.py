"""`hnd serve` on port 0 as a child process, for the split-runtime checks
(check_split_e2e.py, check_split_eb.py): the port is read from its start
line; stop() sends SIGINT (a clean shutdown) and returns the exit status."""
import re
import signal
import subprocess
import threading


class ServeProc:
    def __init__(self, hnd, *args):
        self.p = subprocess.Popen([hnd, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.port = None
        ready = threading.Event()

        def reader():
            for line in self.p.stdout:
                self.lines.append(line)
                m = re.search(r"listening on [^ ]*:(\d+)", line)
                if m and not ready.is_set():
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        ready.wait(120)
        if self.port is None:
            self.stop()
            raise SystemExit("hnd serve did not start:\n" + "".join(self.lines))
        self.addr = f"127.0.0.1:{self.port}"

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode
