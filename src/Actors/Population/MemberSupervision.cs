using Akka.Actor;

namespace PapaActors.Actors.Population;

/// <summary>
/// How members are supervised, locally and on member nodes alike. A member that throws while working is
/// restarted: the new instance builds a fresh model and registers again, and the Averager rolls the whole
/// population back to the last checkpoint (it counts the restarts and ends the run past max-restarts). A
/// member whose model cannot be built, or that the Averager refused, is stopped: restarting would fail the
/// same way.
/// </summary>
public static class MemberSupervision
{
    /// <param name="onStop">Told why whenever a child is stopped for good (for a failed constructor, its exception's message).</param>
    public static SupervisorStrategy Strategy(Action<string> onStop) => new OneForOneStrategy(e =>
    {
        if (e is not (ActorInitializationException or RegistrationRefusedException))
            return Directive.Restart;
        onStop(e is ActorInitializationException { InnerException: { } inner } ? inner.Message : e.Message);
        return Directive.Stop;
    });
}
