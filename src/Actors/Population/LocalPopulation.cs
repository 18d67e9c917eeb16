using Akka.Actor;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Population;

/// <summary>How a run starts: afresh in an empty folder, or resumed in its own folder (from a checkpoint, or from the start when it has none).</summary>
public sealed record RunStart(bool Resuming, Checkpoint? Checkpoint)
{
    public static readonly RunStart Fresh = new(false, null);
}

/// <summary>Runs a whole population in one ActorSystem and completes when the run ends.</summary>
public static class LocalPopulation
{
    /// <summary>
    /// Starts a <see cref="RunRecorder"/> writing <paramref name="folder"/> and a <see cref="PopulationSupervisor"/>;
    /// every run event also goes to <paramref name="observer"/>. Completes with <see cref="RunCompleted"/>,
    /// <see cref="RunFailed"/> or (after <paramref name="interrupt"/> fires) <see cref="RunInterrupted"/>.
    /// The schedule is computed first, so a config it cannot satisfy throws here, before any actor starts.
    /// </summary>
    public static Task<IRunEvent> RunAsync(ActorSystem system, PapaSettings settings, string resolvedConfig, DataSplits data, string folder,
        IActorRef? observer = null, RunStart? start = null, CancellationToken interrupt = default)
    {
        start ??= RunStart.Fresh;
        var plan = SchedulePlan.For(settings, MemberBatches.StepsIn(data.Train.Count, settings.Training.BatchSize));
        var outcome = new TaskCompletionSource<IRunEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var completion = system.ActorOf(RunCompletion.Props(outcome, observer));
        var recorder = system.ActorOf(RunRecorder.Props(folder, resolvedConfig, completion, $"./papa resume {folder}", start.Resuming, start.Checkpoint));
        var population = system.ActorOf(PopulationSupervisor.Props(settings, plan, data, recorder, start.Checkpoint));
        interrupt.Register(() => population.Tell(new Interrupt("interrupted by a signal")));
        return outcome.Task;
    }
}

/// <summary>Passes run events on to an observer and completes a task when the run ends.</summary>
public sealed class RunCompletion : ReceiveActor
{
    public RunCompletion(TaskCompletionSource<IRunEvent> outcome, IActorRef? observer)
    {
        Receive<IRunEvent>(e =>
        {
            observer?.Tell(e);
            if (e is RunCompleted or RunFailed or RunInterrupted)
                outcome.TrySetResult(e);
        });
    }

    public static Props Props(TaskCompletionSource<IRunEvent> outcome, IActorRef? observer) =>
        Akka.Actor.Props.Create(() => new RunCompletion(outcome, observer));
}
