/**
 * Directory/volume restores that never make things worse (issue #15): real mounts (tmpfs, as
 * root), owners, sparse files, xattrs, planted archives, `verify` extracting like `restore`,
 * and tar exiting at the end-of-archive marker. Local mode (--no-upload --local-dir): the
 * store is not what is under test here.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, existsSync, openSync, closeSync, ftruncateSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { backupArgs, restoreArgs, verifyArgs } from "lifeboat-core";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { exec, execOk } from "../support/exec";
import { requireTool } from "../support/tools";
import { extractArchive, planDirRestore, restoreIntoDir } from "../../runner/src/restoreDir";

jest.setTimeout(180_000);

let key: AgeKey;
let work: string;
let local: string;
const mounts: string[] = [];

beforeAll(() => {
  requireBuiltRunner();
  // python3: xattrs/ACLs (no setfattr/setfacl here) and hand-made tar archives.
  requireTool("python3", "python3");
  requireTool("sqlite3", "sqlite3");
  if (process.getuid?.() !== 0) throw new Error("these tests mount tmpfs, chown and mknod: run them as root");
  work = mkdtempSync(join(tmpdir(), "lifeboat-restoredir-"));
  local = join(work, "backups");
  key = ageKey(work);
});

afterAll(async () => {
  for (const m of mounts.reverse()) await exec("umount", [m]);
  if (work) rmSync(work, { recursive: true, force: true });
});

async function mountTmpfs(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await execOk("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", dir]);
  mounts.push(dir);
}

async function backup(name: string, path: string): Promise<string> {
  const r = await runner(backupArgs({ source: "directory", name, path, recipients: [key.recipient], noUpload: true, localDir: local, stateFile: join(work, "state.json"), workDir: work, json: true }), {});
  expect(describeRun(r)).toMatch(/^exit 0/);
  return JSON.parse(r.stdout).manifest.key as string;
}

const restore = (name: string, targetDir: string, extra: { force?: boolean; allowSpecial?: boolean } = {}) =>
  runner(restoreArgs({ name, localDir: local, identity: key.file, targetDir, workDir: work, json: true, ...extra }), {});

const verify = (name: string) => runner(verifyArgs({ name, localDir: local, identity: key.file, workDir: work, noRecord: true }), {});

function simpleTree(root: string, tag: string): void {
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(root, "a.txt"), `restored ${tag}\n`);
  writeFileSync(join(root, "sub/b.bin"), Buffer.alloc(5000, 3));
}

describe("restore onto a mount point", () => {
  let name: string;
  beforeAll(async () => {
    const src = join(work, "mnt-src");
    simpleTree(src, "from backup");
    name = "mnt-files";
    await backup(name, src);
  });

  test("--force on a mounted disk: the backup lands on it and its previous contents are kept aside on the same disk, named in --json", async () => {
    const disk = join(work, "disk1");
    await mountTmpfs(disk);
    writeFileSync(join(disk, "precious.txt"), "do not lose me\n");
    const r = await restore(name, disk, { force: true });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const out = JSON.parse(r.stdout);
    expect(out.keptAside).toMatch(/\/disk1\/\.before-restore-\d{8}T\d{6}(\.\d{3})?Z$/);
    expect(readFileSync(join(out.keptAside, "precious.txt"), "utf8")).toBe("do not lose me\n");
    expect(readFileSync(join(disk, "a.txt"), "utf8")).toBe("restored from backup\n");
    expect(readFileSync(join(disk, "sub/b.bin"))).toEqual(Buffer.alloc(5000, 3));
    // Nothing else: no staging directory left behind.
    expect(readdirSync(disk).sort()).toEqual([".before-restore-" + out.keptAside.split(".before-restore-")[1], "a.txt", "sub"].sort());
  });

  test("a file written into the mount point while the archive downloads is kept aside, not overwritten", async () => {
    const disk = join(work, "disk-busy");
    await mountTmpfs(disk);
    const plan = await planDirRestore(disk, false);
    const { keptAside } = await restoreIntoDir(plan, async (staging) => {
      writeFileSync(join(disk, "a.txt"), "written by the app during the restore\n");
      writeFileSync(join(staging, "a.txt"), "from the archive\n");
    });
    expect(readFileSync(join(disk, "a.txt"), "utf8")).toBe("from the archive\n");
    expect(keptAside).toBeDefined();
    expect(readFileSync(join(keptAside!, "a.txt"), "utf8")).toBe("written by the app during the restore\n");
  });

  test("an empty mount point (a fresh disk, with its lost+found) needs no --force", async () => {
    const disk = join(work, "disk2");
    await mountTmpfs(disk);
    mkdirSync(join(disk, "lost+found"));
    const r = await restore(name, disk);
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(JSON.parse(r.stdout).keptAside).toBeUndefined();
    expect(readFileSync(join(disk, "a.txt"), "utf8")).toBe("restored from backup\n");
    expect(readdirSync(disk).sort()).toEqual(["a.txt", "lost+found", "sub"]);
  });

  test("--force on a plain directory moves it to TARGET.before-restore-TIME (printed) and restores in its place", async () => {
    const target = join(work, "plain-target");
    mkdirSync(target);
    writeFileSync(join(target, "old.txt"), "old data\n");
    const r = await runner(restoreArgs({ name, localDir: local, identity: key.file, targetDir: target, workDir: work, force: true }), {});
    expect(describeRun(r)).toMatch(/^exit 0/);
    const aside = /previous contents are kept in (\S+)/.exec(r.stdout)?.[1];
    expect(aside).toMatch(/plain-target\.before-restore-\d{8}T\d{6}(\.\d{3})?Z$/);
    expect(readFileSync(join(aside!, "old.txt"), "utf8")).toBe("old data\n");
    expect(readdirSync(target).sort()).toEqual(["a.txt", "sub"]);
  });

  test("--force on a file target (SQLite/Redis) keeps the previous file as FILE.before-restore-TIME", async () => {
    const db = join(work, "keep.sqlite");
    await execOk("sqlite3", [db, "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('backed up');"]);
    const r = await runner(backupArgs({ source: "sqlite", name: "keep-db", path: db, recipients: [key.recipient], noUpload: true, localDir: local, stateFile: join(work, "state.json"), workDir: work }), {});
    expect(describeRun(r)).toMatch(/^exit 0/);
    const target = join(work, "live.sqlite");
    writeFileSync(target, "the live database\n");
    const rr = await runner(restoreArgs({ name: "keep-db", localDir: local, identity: key.file, targetFile: target, workDir: work, force: true, json: true }), {});
    expect(describeRun(rr)).toMatch(/^exit 0/);
    const aside = JSON.parse(rr.stdout).keptAside as string;
    expect(aside).toMatch(/live\.sqlite\.before-restore-\d{8}T\d{6}(\.\d{3})?Z$/);
    expect(readFileSync(aside, "utf8")).toBe("the live database\n");
    expect(await execOk("sqlite3", [target, "SELECT v FROM t"])).toBe("backed up\n");
  });

  test("without --force a non-empty target is refused before anything is downloaded, and the refusal says what --force would do", async () => {
    const target = join(work, "occupied");
    mkdirSync(target);
    writeFileSync(join(target, "keep.txt"), "mine");
    const r = await restore(name, target);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty.*--force.*moved to .*occupied\.before-restore-.*nothing is deleted/);
    expect(readdirSync(target)).toEqual(["keep.txt"]);
  });
});

describe("restore --path: selected members only", () => {
  test("one file, a glob and a directory come back alone; a pattern matching nothing or with '..' fails and leaves nothing", async () => {
    const src = join(work, "sel-src");
    simpleTree(src, "sel");
    mkdirSync(join(src, "uploads/2026"), { recursive: true });
    writeFileSync(join(src, "uploads/2026/contract.pdf"), "pdf\n");
    writeFileSync(join(src, "uploads/2026/photo.jpg"), "jpg\n");
    await backup("sel-files", src);
    const sel = (target: string, paths: string[]) =>
      runner(restoreArgs({ name: "sel-files", localDir: local, identity: key.file, targetDir: target, workDir: work, json: true, paths }), {});

    const one = join(work, "sel-one");
    const r1 = await sel(one, ["/uploads/2026/contract.pdf"]);
    expect(describeRun(r1)).toMatch(/^exit 0/);
    expect(JSON.parse(r1.stdout).restoredFiles).toBe(1);
    expect(readFileSync(join(one, "uploads/2026/contract.pdf"), "utf8")).toBe("pdf\n");
    expect(readdirSync(one)).toEqual(["uploads"]);
    expect(readdirSync(join(one, "uploads/2026"))).toEqual(["contract.pdf"]);

    const glob = join(work, "sel-glob");
    const r2 = await sel(glob, ["uploads/*/*.jpg", "./sub"]);
    expect(describeRun(r2)).toMatch(/^exit 0/);
    expect(readdirSync(glob).sort()).toEqual(["sub", "uploads"]);
    expect(readdirSync(join(glob, "uploads/2026"))).toEqual(["photo.jpg"]);
    expect(readFileSync(join(glob, "sub/b.bin"))).toEqual(Buffer.alloc(5000, 3));

    const none = await sel(join(work, "sel-none"), ["no/such/file"]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/no\/such\/file: Not found in archive/);
    expect(existsSync(join(work, "sel-none"))).toBe(false);

    const up = await sel(join(work, "sel-up"), ["uploads/../../etc"]);
    expect(up.code).toBe(2);
    expect(up.stderr).toMatch(/--path "uploads\/\.\.\/\.\.\/etc": must not contain '\.\.'/);
  });
});

describe("restore --path from a volume archive", () => {
  test("one file of a volume comes back alone into a new directory; into a non-empty one only with --force, which keeps what was there aside", async () => {
    const src = join(work, "vol-src");
    simpleTree(src, "vol");
    mkdirSync(join(src, "sessions"), { recursive: true });
    writeFileSync(join(src, "sessions/wa-1.json"), '{"session":1}\n');
    const r0 = await runner(backupArgs({ source: "volume", name: "vol-files", path: src, recipients: [key.recipient], noUpload: true, localDir: local, stateFile: join(work, "state.json"), workDir: work, json: true }), {});
    expect(describeRun(r0)).toMatch(/^exit 0/);
    const one = (target: string, force = false) =>
      runner(restoreArgs({ name: "vol-files", localDir: local, identity: key.file, targetDir: target, workDir: work, json: true, paths: ["sessions/wa-1.json"], force }), {});
    const fresh = join(work, "vol-one");
    const r = await one(fresh);
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(JSON.parse(r.stdout)).toEqual(expect.objectContaining({ kind: "volume", restoredFiles: 1 }));
    expect(readdirSync(fresh)).toEqual(["sessions"]);
    expect(readFileSync(join(fresh, "sessions/wa-1.json"), "utf8")).toBe('{"session":1}\n');
    // The same directory again, now holding an edit: refused, then with --force kept aside.
    writeFileSync(join(fresh, "sessions/wa-1.json"), "edited\n");
    const refused = await one(fresh);
    expect(refused.code).toBe(2);
    expect(readFileSync(join(fresh, "sessions/wa-1.json"), "utf8")).toBe("edited\n");
    const forced = await one(fresh, true);
    expect(describeRun(forced)).toMatch(/^exit 0/);
    const aside = JSON.parse(forced.stdout).keptAside as string;
    expect(readFileSync(join(aside, "sessions/wa-1.json"), "utf8")).toBe("edited\n");
    expect(readFileSync(join(fresh, "sessions/wa-1.json"), "utf8")).toBe('{"session":1}\n');
  });
});

describe("what a directory restore brings back", () => {
  test("the root's owner and mode, sparse files as sparse, and extended attributes", async () => {
    const src = join(work, "attrs-src");
    simpleTree(src, "attrs");
    chownSync(src, 1234, 2345);
    chmodSync(src, 0o750);
    // 32 MiB with 4 KiB of data in the middle.
    const fd = openSync(join(src, "sparse.img"), "w");
    ftruncateSync(fd, 32 << 20);
    writeSync(fd, Buffer.alloc(4096, 9), 0, 4096, 16 << 20);
    closeSync(fd);
    await execOk("python3", ["-c", "import os,sys; os.setxattr(sys.argv[1], 'user.lifeboat', b'kept')", join(src, "a.txt")]);
    // An ACL granting uid 1234 read (setfacl is not installed: the kernel's xattr form, version 2,
    // entries tag/perm/id: user::rw- user:1234:r-- group::r-- mask::r-- other::r--).
    const acl = "struct.pack('<I', 2) + b''.join(struct.pack('<HHI', t, p, i) for t, p, i in [(1, 6, 0xFFFFFFFF), (2, 4, 1234), (4, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF)])";
    await execOk("python3", ["-c", `import os,sys,struct; os.setxattr(sys.argv[1], 'system.posix_acl_access', ${acl})`, join(src, "sub/b.bin")]);
    const aclOf = (p: string) => execOk("python3", ["-c", "import os,sys; print(os.getxattr(sys.argv[1], 'system.posix_acl_access').hex())", p]);
    const aclBefore = await aclOf(join(src, "sub/b.bin"));
    await backup("attrs", src);
    const target = join(work, "attrs-restored");
    const r = await restore("attrs", target);
    expect(describeRun(r)).toMatch(/^exit 0/);
    const st = statSync(target);
    expect([st.uid, st.gid, (st.mode & 0o7777).toString(8)]).toEqual([1234, 2345, "750"]);
    const sp = statSync(join(target, "sparse.img"));
    expect(sp.size).toBe(32 << 20);
    expect(sp.blocks * 512).toBeLessThan(1 << 20);
    expect(createHash("sha256").update(readFileSync(join(target, "sparse.img"))).digest("hex")).toBe(
      createHash("sha256").update(readFileSync(join(src, "sparse.img"))).digest("hex"),
    );
    const x = await execOk("python3", ["-c", "import os,sys; print(os.getxattr(sys.argv[1], 'user.lifeboat').decode())", join(target, "a.txt")]);
    expect(x.trim()).toBe("kept");
    expect(await aclOf(join(target, "sub/b.bin"))).toBe(aclBefore);
  });

  test("a planted archive: a device node is refused (target untouched), setuid/setgid are cleared unless --allow-special", async () => {
    const dev = join(work, "planted-dev");
    mkdirSync(dev);
    writeFileSync(join(dev, "readme"), "x");
    await execOk("mknod", ["-m", "666", join(dev, "mem"), "c", "1", "1"]);
    await backup("planted-dev", dev);
    const refused = await restore("planted-dev", join(work, "dev-restored"));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/character device.*mem.*--allow-special/);
    expect(existsSync(join(work, "dev-restored"))).toBe(false);
    expect(readdirSync(work).filter((e) => e.includes("lifeboat-restore"))).toEqual([]);

    const suid = join(work, "planted-suid");
    mkdirSync(suid);
    copyFileSync("/bin/sh", join(suid, "rootshell"));
    chmodSync(join(suid, "rootshell"), 0o6755);
    await backup("planted-suid", suid);
    const r = await restore("planted-suid", join(work, "suid-restored"));
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(JSON.parse(r.stdout).setuidStripped).toEqual(["./rootshell"]);
    const st = lstatSync(join(work, "suid-restored/rootshell"));
    expect((st.mode & 0o7777).toString(8)).toBe("755");

    const allowed = await restore("planted-dev", join(work, "dev-allowed"), { allowSpecial: true });
    expect(describeRun(allowed)).toMatch(/^exit 0/);
    expect(lstatSync(join(work, "dev-allowed/mem")).isCharacterDevice()).toBe(true);
  });
});

/** A small archive GNU tar wrote (padded to its 10 KiB record), plus extra zero padding. */
async function smallArchive(dir: string): Promise<Buffer> {
  simpleTree(dir, "loop");
  const r = spawnSync("tar", ["--create", "--file=-", "--format=posix", "-C", dir, "."], { maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return r.stdout;
}

/** The bytes in small chunks, as a decompressor hands them over. */
const chunked = (b: Buffer, size = 4096) => Readable.from((function* () {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
})());

describe("tar exits at the end-of-archive marker", () => {
  test("200 restores of one small archive with padding after the marker: no failure", async () => {
    const tarball = Buffer.concat([await smallArchive(join(work, "loop-src")), Buffer.alloc(64 << 10)]);
    const failures: string[] = [];
    for (let i = 0; i < 200; i++) {
      const dir = mkdtempSync(join(work, "loop-"));
      try {
        const got = await extractArchive(chunked(tarball), Promise.resolve(), dir, false);
        if (got.stats.files !== 2 || readFileSync(join(dir, "a.txt"), "utf8") !== "restored loop\n") failures.push(`run ${i}: wrong content`);
      } catch (e) {
        failures.push(`run ${i}: ${(e as Error).message}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    expect(failures).toEqual([]);
  });

  test("tar failing early is reported with tar's own message, not as a broken pipe", async () => {
    const src = join(work, "big-src");
    mkdirSync(src);
    writeFileSync(join(src, "big.bin"), Buffer.alloc(4 << 20, 1));
    const r = spawnSync("tar", ["--create", "--file=-", "-C", src, "."], { maxBuffer: 1 << 24 });
    for (let i = 0; i < 5; i++) {
      await expect(extractArchive(chunked(r.stdout, 65536), Promise.resolve(), join(work, "no/such/dir"), false)).rejects.toThrow(/^tar exited with code 2: .*no\/such\/dir/s);
    }
  });

  test("data after the end-of-archive marker that is not zero padding fails the extraction", async () => {
    const tarball = Buffer.concat([await smallArchive(join(work, "trail-src")), Buffer.from("hidden payload")]);
    const dir = mkdtempSync(join(work, "trail-"));
    await expect(extractArchive(chunked(tarball), Promise.resolve(), dir, false)).rejects.toThrow(/after the tar end-of-archive marker/);
  });
});

describe("verify extracts archives like restore does", () => {
  /** Replaces a local backup's object with `tarball`, encrypted, and fixes its manifest's hash and sizes. */
  async function plant(objectKey: string, tarball: Buffer): Promise<void> {
    const obj = join(local, objectKey);
    const enc = await execOk("bash", ["-c", `zstd -q -c | age -r "$1" | base64 -w0`, "-", key.recipient], { input: tarball });
    const stored = Buffer.from(enc, "base64");
    writeFileSync(obj, stored);
    const mf = `${obj}.manifest.json`;
    const m = JSON.parse(readFileSync(mf, "utf8"));
    Object.assign(m, { sha256: createHash("sha256").update(stored).digest("hex"), storedBytes: stored.length, rawBytes: tarball.length });
    delete m.archive;
    writeFileSync(mf, JSON.stringify(m, null, 2));
  }

  test("an archive with a `..` member or a symlink escape fails verify (and restore), a good one passes", async () => {
    const src = join(work, "verify-src");
    simpleTree(src, "verify");
    const objectKey = await backup("verify-files", src);
    expect(describeRun(await verify("verify-files"))).toMatch(/^exit 0/);

    const evil = join(work, "evil");
    mkdirSync(evil);
    const py = `
import io, sys, tarfile
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
    if sys.argv[1] == "dotdot":
        data = b"escaped\\n"
        i = tarfile.TarInfo("./../escaped.txt"); i.size = len(data); t.addfile(i, io.BytesIO(data))
    else:
        l = tarfile.TarInfo("./etc"); l.type = tarfile.SYMTYPE; l.linkname = "/tmp/lifeboat-symlink-escape"; t.addfile(l)
        data = b"owned\\n"
        i = tarfile.TarInfo("./etc/passwd"); i.size = len(data); t.addfile(i, io.BytesIO(data))
sys.stdout.buffer.write(out.getvalue())
`;
    for (const kind of ["dotdot", "symlink"]) {
      const made = spawnSync("python3", ["-c", py, kind], { maxBuffer: 1 << 20 });
      expect(made.status).toBe(0);
      const tarball = made.stdout;
      await plant(objectKey, tarball);
      const v = await verify("verify-files");
      expect(v.code).toBe(1);
      expect(v.stdout).toMatch(/PROBLEM: tar exited with code 2/);
      const rr = await restore("verify-files", join(work, `evil-restored-${kind}`));
      expect(rr.code).not.toBe(0);
      expect(existsSync(join(work, `evil-restored-${kind}`))).toBe(false);
    }
    expect(existsSync("/tmp/lifeboat-symlink-escape/passwd")).toBe(false);
    expect(existsSync(join(work, "escaped.txt"))).toBe(false);
  });
});
