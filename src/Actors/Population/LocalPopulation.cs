using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Population;

/// <summary>Runs a whole population in one ActorSystem and completes when the run ends.</summary>
public static class LocalPopulation
{
    /// <summary>
    /// Starts a <see cref="RunRecorder"/> writing <paramref name="folder"/> and a <see cref="PopulationSupervisor"/>;
    /// every run event also goes to <paramref name="observer"/>. Completes with <see cref="RunCompleted"/>,
    /// <see cref="RunFailed"/> or (after <paramref name="interrupt"/> fires) <see cref="RunInterrupted"/>.
    /// The schedule is computed first, so a config it cannot satisfy throws here, before any actor starts.
    /// <paramref name="resumeCommand"/>: what continues the run should it end unfinished (see <see cref="RunRecorder"/>).
    /// </summary>
    public static Task<IRunEvent> RunAsync(ActorSystem system, RunConfig run, DataSplits data, string folder, string resumeCommand,
        IActorRef? observer = null, RunStart? start = null, CancellationToken interrupt = default)
    {
        start ??= RunStart.Fresh;
        var plan = SchedulePlan.For(run.Settings, data);
        var outcome = new TaskCompletionSource<IRunEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var completion = system.ActorOf(RunCompletion.Props(outcome, observer));
        var recorder = system.ActorOf(RunRecorder.Props(folder, run, completion, resumeCommand, start.Resuming, start.Checkpoint));
        var population = system.ActorOf(PopulationSupervisor.Props(run.Settings, plan, data, recorder, start.Checkpoint));
        interrupt.Register(() => population.Tell(new Interrupt("interrupted by a signal")));
        return outcome.Task;
    }
}
