using System.Runtime.InteropServices;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;

namespace PapaActors.Host;

/// <summary>
/// Ctrl-C and SIGTERM for a run. The first asks the run to stop at the next round boundary after writing a
/// checkpoint (<see cref="Token"/> fires); the second records that in results.json and exits at once with
/// code 130: the last complete checkpoint stays valid, because each is written under a temporary name and
/// renamed into place.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    private readonly CancellationTokenSource _first = new();
    private readonly PosixSignalRegistration[] _registrations;
    private readonly string _runFolder;
    private readonly string _resumeCommand;
    private int _received;

    public InterruptSignals(string runFolder, string resumeCommand)
    {
        _runFolder = runFolder;
        _resumeCommand = resumeCommand;
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
    }

    public CancellationToken Token => _first.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _received) == 1)
        {
            Console.Error.WriteLine($"{context.Signal}: finishing the current round and writing a checkpoint; send it again to stop at once");
            _first.Cancel();
            return;
        }
        Console.Error.WriteLine($"{context.Signal} again: stopping at once; the last complete checkpoint stays valid");
        try
        {
            RunRecorder.WriteOutcome(_runFolder, RunStatus.Interrupted, "stopped at once by a second signal", _resumeCommand);
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
