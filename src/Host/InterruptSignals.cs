using System.Runtime.InteropServices;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;

namespace PapaActors.Host;

/// <summary>
/// Ctrl-C and SIGTERM. The first fires <see cref="Token"/>: a run stops at the next round boundary after
/// writing a checkpoint, a member node leaves the cluster. The second stops the process at once with code
/// 130, after <c>beforeExit</c> (a run records that in results.json; its last complete checkpoint stays
/// valid, because each is written under a temporary name and renamed into place).
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    private readonly CancellationTokenSource _first = new();
    private readonly PosixSignalRegistration[] _registrations;
    private readonly string _firstNotice;
    private readonly Action? _beforeExit;
    private int _received;

    private InterruptSignals(string firstNotice, Action? beforeExit)
    {
        _firstNotice = firstNotice;
        _beforeExit = beforeExit;
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
    }

    public static InterruptSignals ForRun(string runFolder, string resumeCommand) => new(
        "finishing the current round and writing a checkpoint",
        () => RunRecorder.WriteOutcome(runFolder, RunStatus.Interrupted, "stopped at once by a second signal", resumeCommand));

    /// <summary>
    /// `papa sweep`: the first signal stops the run going on as <see cref="ForRun"/> does and no further run starts;
    /// a second records the stop in the folder of the run going on (<paramref name="currentRun"/>; none between runs).
    /// </summary>
    public static InterruptSignals ForSweep(Func<string?> currentRun) => new(
        "finishing the current round and writing a checkpoint; the sweep starts no further run",
        () =>
        {
            if (currentRun() is { } folder)
                RunRecorder.WriteOutcome(folder, RunStatus.Interrupted, "stopped at once by a second signal", LocalRun.ResumeCommand(folder));
        });

    public static InterruptSignals ForMemberNode() => new("leaving the cluster (the averager rolls its members back and waits for a replacement)", null);

    public CancellationToken Token => _first.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _received) == 1)
        {
            Console.Error.WriteLine($"{context.Signal}: {_firstNotice}; send it again to stop at once");
            _first.Cancel();
            return;
        }
        Console.Error.WriteLine($"{context.Signal} again: stopping at once");
        try
        {
            _beforeExit?.Invoke();
        }
        finally
        {
            // Not Environment.Exit: libtorch's exit handlers crash (SIGSEGV) while member threads still train.
            ExitImmediately(ExitCodes.Interrupted);
        }
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void ExitImmediately(int status);

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        _first.Dispose();
    }
}
