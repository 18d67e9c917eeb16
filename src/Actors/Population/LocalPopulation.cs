using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Population;

/// <summary>Runs a whole population in one ActorSystem and completes when the run ends.</summary>
public static class LocalPopulation
{
    /// <summary>
    /// Starts a <see cref="RunRecorder"/> writing <paramref name="folder"/> and a <see cref="PopulationSupervisor"/>;
    /// every run event also goes to <paramref name="observer"/>. Completes with <see cref="RunCompleted"/> or
    /// <see cref="RunFailed"/>.
    /// </summary>
    public static Task<IRunEvent> RunAsync(ActorSystem system, PapaSettings settings, string resolvedConfig, DataSplits data, string folder, IActorRef? observer = null)
    {
        var outcome = new TaskCompletionSource<IRunEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var completion = system.ActorOf(RunCompletion.Props(outcome, observer));
        var recorder = system.ActorOf(RunRecorder.Props(folder, resolvedConfig, completion));
        system.ActorOf(PopulationSupervisor.Props(settings, data, recorder));
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
            if (e is RunCompleted or RunFailed)
                outcome.TrySetResult(e);
        });
    }

    public static Props Props(TaskCompletionSource<IRunEvent> outcome, IActorRef? observer) =>
        Akka.Actor.Props.Create(() => new RunCompletion(outcome, observer));
}
