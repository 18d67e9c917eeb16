using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using PapaActors.Actors.Configuration;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// `papa.fault-injection`: makes a member throw when it is asked to train the round containing a chosen step,
/// or diverge after it, so tests and chaos runs can exercise rollback and divergence on a real run. The count
/// of throws lives outside the actor, with the run's settings object (one per run and process, compared by
/// reference): a restarted member that replays the same round must not throw again once its budget is spent.
/// </summary>
public static class InjectedFaults
{
    private static readonly ConditionalWeakTable<FaultInjection, ConcurrentDictionary<int, int>> Thrown = new();

    /// <summary>Writes NaN into <paramref name="model"/>'s first weight when the divergence fault applies to steps [first, first + steps).</summary>
    public static void PoisonIfDue(FaultInjection fault, int member, long first, int steps, MemberModel model)
    {
        if (fault.DivergeMember != member || fault.DivergeAtStep < first || fault.DivergeAtStep >= first + steps)
            return;
        var state = model.CaptureState();
        var poisoned = state.Weights.Values.ToArray(); // a new array: the snapshot itself is never written
        poisoned[0] = float.NaN;
        model.RestoreState(state with { Weights = WeightSnapshot.FromOwned(state.Weights.Layout, poisoned) });
    }

    /// <summary>Throws <see cref="InjectedFaultException"/> when the fault applies to steps [first, first + steps) of <paramref name="member"/>.</summary>
    public static void ThrowIfDue(FaultInjection fault, int member, long first, int steps)
    {
        if (TakeThrowFile(fault.ThrowFile, member))
            throw new InjectedFaultException($"injected fault: member {member} found its index in {fault.ThrowFile} (papa.fault-injection.throw-file)");
        if (fault.ThrowMember != member || fault.ThrowAtStep < first || fault.ThrowAtStep >= first + steps)
            return;
        var count = Thrown.GetOrCreateValue(fault).AddOrUpdate(member, 1, (_, n) => n + 1);
        if (fault.ThrowTimes < 0 || count <= fault.ThrowTimes)
            throw new InjectedFaultException($"injected fault: member {member} at step {fault.ThrowAtStep} (papa.fault-injection, throw {count})");
    }

    /// <summary>True once for the member whose index the trigger file holds: it deletes the file, so it throws once.</summary>
    private static bool TakeThrowFile(string path, int member)
    {
        if (path.Length == 0 || !File.Exists(path))
            return false;
        try
        {
            if (!int.TryParse(File.ReadAllText(path).Trim(), out var index) || index != member)
                return false;
            File.Delete(path);
            return true;
        }
        catch (IOException)
        {
            return false; // being written or taken right now: the next round looks again
        }
    }
}

public sealed class InjectedFaultException(string message) : Exception(message);
