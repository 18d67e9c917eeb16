using PapaActors.Host;
using PapaActors.Tests.Support;
using static PapaActors.Tests.Host.CommandLineTests;

namespace PapaActors.Tests.Scenarios;

/// <summary>The run folder's lock and the machine's limits on the real program: a process that holds a folder, then is killed -9; an address-space limit.</summary>
[Trait("Category", "Slow")]
public sealed class RunFolderGuardProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public void AnAveragerWaitingForMembersHoldsItsFolderUntilItIsKilled()
    {
        using var folder = new TempFolder();
        var run = folder.File("run");
        int averagerId;
        using (var averager = PapaProcess.Start(["node", "--role", "averager", .. Tiny, "--out", run]))
        {
            averagerId = averager.Id;
            averager.WaitUntil(() => averager.Output.Contains("waiting for 2 members"), Patience, "the averager waiting for its members");
            Cli.AssertRejected(Cli.RunInProcess("node", "--role", "averager", "--resume", run), $"in use by another papa process (PID {averager.Id}");
            Cli.AssertRejected(Cli.RunInProcess("resume", run), $"PID {averager.Id}");
            averager.KillHard();
        }

        // kill -9 ran no handler: the lock file still names the dead averager, and the kernel released its lock, so
        // the next writer takes it over. (Whether the folder has a config.conf by then depends on how far the
        // averager got, so the lock is taken directly rather than through a command that reads the folder.)
        var lockFile = Path.Combine(run, RunFolderLock.FileName);
        Assert.Equal($"{averagerId}", File.ReadAllText(lockFile).Trim());
        RunFolderLock.Acquire(run).Dispose();
        Assert.Equal($"{Environment.ProcessId}", File.ReadAllText(lockFile).Trim());
    }

    [Fact]
    public void LibtorchThatCannotLoadUnderAnAddressSpaceLimitIsNamedInOneLine()
    {
        using var folder = new TempFolder();
        var run = folder.File("run");
        using var limited = PapaProcess.StartShell("papa run under ulimit -v 2 GB", "ulimit -v 2097152 && exec dotnet \"$PAPA_DLL\" \"$@\"",
            ["run", .. Tiny, "--out", run]);

        var result = limited.Finish(Patience);

        Cli.AssertRejected(result, "libtorch could not be loaded: ", "(the address-space limit, ulimit -v, is 2.0 GB)");
        Assert.False(Directory.Exists(run), "a refused run leaves no folder");
    }
}
