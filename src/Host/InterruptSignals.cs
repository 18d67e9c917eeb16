using System.Runtime.InteropServices;

namespace PapaActors.Host;

/// <summary>
/// Ctrl-C and SIGTERM for a run. The first asks the run to stop at the next round boundary after writing a
/// checkpoint (<see cref="Token"/> fires); the second exits at once with code 130: the last complete
/// checkpoint stays valid, because each is written under a temporary name and renamed into place.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    private readonly CancellationTokenSource _first = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _received;

    public InterruptSignals()
    {
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
        Environment.Exit(ExitCodes.Interrupted);
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        _first.Dispose();
    }
}
