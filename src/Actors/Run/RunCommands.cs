using Akka.Event;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Run;

/// <summary>What <see cref="PopulationRun{TPeer}"/> asks its adapter to do, in order.</summary>
public abstract record RunCommand;

/// <summary>Tell <paramref name="To"/> a small message (train, combine, capture, finish, registration answers, the end).</summary>
public sealed record Send<TPeer>(TPeer To, IPapaMessage Message) : RunCommand;

/// <summary>Send <paramref name="To"/> a message that carries weights (a node's mix, a restore), possibly from another node.</summary>
public sealed record Transfer<TPeer>(TPeer To, IPapaMessage Message) : RunCommand;

/// <summary>Tell the run's listener (the recorder) what happened.</summary>
public sealed record Notify(IRunEvent Event) : RunCommand;

/// <summary>Report <see cref="PeerStopped{TPeer}"/> when <paramref name="Member"/> stops.</summary>
public sealed record Watch<TPeer>(TPeer Member) : RunCommand;

/// <summary>Deliver <see cref="TimedOut"/> after <paramref name="After"/>, replacing a running timer of the same kind.</summary>
public sealed record StartTimer(RunTimer Timer, int Round, TimeSpan After) : RunCommand;

public sealed record CancelTimer(RunTimer Timer) : RunCommand;

/// <summary>Evaluate the soups of <paramref name="Finals"/> on the members (as evaluators); answer <see cref="SoupsDone"/> or <see cref="SoupsFailed"/>.</summary>
public sealed record StartSoups<TPeer>(IReadOnlyList<MemberFinal> Finals, IReadOnlyList<TPeer> Evaluators) : RunCommand;

/// <summary>The soups are no longer wanted (done, or the run went back).</summary>
public sealed record StopSoups : RunCommand;

/// <summary>A message its sender may not send; log it once per sender.</summary>
public sealed record DropStranger<TPeer>(object Message, TPeer From) : RunCommand;

public sealed record Log(LogLevel Level, string Text) : RunCommand;

/// <summary>The run is over: no timer may go off.</summary>
public sealed record CancelAllTimers : RunCommand;

public enum RunTimer
{
    /// <summary>The current round (or restore, finish, soups) took longer than papa.round-timeout.</summary>
    Round,

    /// <summary>No node replaced a lost member within papa.faults.replacement-timeout.</summary>
    Replacement,
}
