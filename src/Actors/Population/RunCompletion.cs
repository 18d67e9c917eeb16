using Akka.Actor;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Population;

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
