using System.Runtime.InteropServices;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;

namespace PapaActors.Host;

/// <summary>
/// Ctrl-C and SIGTERM. The first fires <see cref="Token"/>: a run stops at the next round boundary after
/// writing a checkpoint, a member node leaves the cluster. The second stops the process at once, after recording
/// the stop in the results.json of the run going on (<see cref="Track"/>; its last complete checkpoint stays valid,
/// because each is written under a temporary name and renamed into place). Once that run has its outcome
/// (<see cref="Settle"/>), a signal changes nothing of it: the report and plots may be cut short, and `papa run`
/// still ends with the run's exit code.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    private const string StoppedAtOnce = "stopped at once by a second signal";
    private readonly CancellationTokenSource _first = new();
    private readonly PosixSignalRegistration[] _registrations;
    private readonly string _firstNotice;
    private readonly bool _exitWithRunOutcome;
    private readonly Lock _gate = new();
    private (string Folder, string ResumeCommand)? _run;
    private int? _outcome;
    private int _received;

    private InterruptSignals(string firstNotice, bool exitWithRunOutcome)
    {
        _firstNotice = firstNotice;
        _exitWithRunOutcome = exitWithRunOutcome;
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
    }

    /// <summary>One run: a stop at once ends the process with the run's exit code once it has one, else 130.</summary>
    public static InterruptSignals ForRun(string runFolder, string resumeCommand)
    {
        var signals = new InterruptSignals("finishing the current round and writing a checkpoint", exitWithRunOutcome: true);
        signals.Track(runFolder, resumeCommand);
        return signals;
    }

    /// <summary>`papa sweep`: the first signal stops the run going on and no further run starts; a stop at once ends with 130.</summary>
    public static InterruptSignals ForSweep() =>
        new("finishing the current round and writing a checkpoint; the sweep starts no further run", exitWithRunOutcome: false);

    public static InterruptSignals ForMemberNode() =>
        new("leaving the cluster (the averager rolls its members back and waits for a replacement)", exitWithRunOutcome: false);

    public CancellationToken Token => _first.Token;

    /// <summary>The run going on from now, whose results.json a stop at once records; null between a sweep's runs.</summary>
    public void Track(string? runFolder, string? resumeCommand = null)
    {
        lock (_gate)
        {
            _run = runFolder is null ? null : (runFolder, resumeCommand ?? CommandLines.Resume(runFolder));
            _outcome = null;
        }
    }

    /// <summary>The run going on has ended with <paramref name="exitCode"/>: from now a signal records nothing in its folder.</summary>
    public void Settle(int exitCode)
    {
        lock (_gate)
            _outcome = exitCode;
    }

    /// <summary>
    /// What a second signal does before the process ends at once: records the stop in the results.json of a run that
    /// has no outcome yet (never over a completed one), and returns the exit code to end with.
    /// </summary>
    public int StopAtOnce()
    {
        lock (_gate)
        {
            if (_outcome is null && _run is { } run && !ResultsFile.WriteUnfinished(run.Folder, RunStatus.Interrupted, StoppedAtOnce, run.ResumeCommand))
                _outcome = ExitCodes.Success; // it completed before its outcome reached this process's report
            return _exitWithRunOutcome && _outcome is { } code ? code : ExitCodes.Interrupted;
        }
    }

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
        var code = ExitCodes.Interrupted;
        try
        {
            code = StopAtOnce();
        }
        finally
        {
            // Not Environment.Exit: libtorch's exit handlers crash (SIGSEGV) while member threads still train.
            ExitImmediately(code);
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
