using Akka.Actor;
using Akka.Cluster;

namespace PapaActors.Actors.Security;

/// <summary>
/// Where the messages that steer members and node reducers may come from: an actor of this node, or of the
/// averager's node, the oldest node of the averager role, where the run's singleton runs (a stranger that joins
/// with that role is younger). Anything else comes from a stranger on the network.
/// </summary>
public static class TrustedSenders
{
    /// <summary>The cluster role of the node that runs the run's singleton (the averager).</summary>
    public const string AveragerRole = "averager";

    public static bool MaySteer(ActorSystem system, IActorRef sender) =>
        sender.Path.Address.HasLocalScope || IsAveragerNode(system, sender.Path.Address);

    private static bool IsAveragerNode(ActorSystem system, Address address)
    {
        if (((ExtendedActorSystem)system).Provider is not IClusterActorRefProvider)
            return false;
        var averager = Akka.Cluster.Cluster.Get(system).State.Members
            .Where(m => m.HasRole(AveragerRole) && m.Status == MemberStatus.Up)
            .OrderBy(m => m, Member.AgeOrdering)
            .FirstOrDefault();
        return averager is not null && averager.Address.Equals(address);
    }
}
