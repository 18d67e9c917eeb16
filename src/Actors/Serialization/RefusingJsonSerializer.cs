using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;

namespace PapaActors.Actors.Serialization;

/// <summary>
/// Takes serializer id 1, the slot of Akka's Newtonsoft JSON serializer (bound to every type that has no serializer of
/// its own), and refuses both ways: that serializer builds whatever type a payload names, so bytes from the network
/// could make a node instantiate a stranger's choice. Only our messages (<see cref="PapaSerializer"/>) and Akka's own
/// (its protobuf serializers) cross the wire; a message of any other type fails by name where it is sent.
/// A string manifest, so a refused payload's type name is never even resolved.
/// </summary>
public sealed class RefusingJsonSerializer : SerializerWithStringManifest
{
    /// <summary>Akka creates a `json` serializer with its `serialization-settings.json` section, Newtonsoft's settings: unused.</summary>
    public RefusingJsonSerializer(ExtendedActorSystem system, Config jsonSettings) : base(system)
    {
    }

    /// <summary>Akka's id for its JSON serializer (akka.actor.serialization-identifiers).</summary>
    public const int JsonId = 1;

    /// <summary>
    /// Binds Akka's JSON serializer back, for in-process test systems with `akka.actor.serialize-messages = on` only:
    /// that switch round-trips every local message through its serializer, Akka's own (e.g. StopChild) through JSON.
    /// </summary>
    public const string InProcessChecksJson = "akka.actor.serializers.json = \"Akka.Serialization.NewtonSoftJsonSerializer, Akka\"";

    public override int Identifier => JsonId;

    public override string Manifest(object o) => throw NoWireFormat(o);

    public override byte[] ToBinary(object obj) => throw NoWireFormat(obj);

    public override object FromBinary(byte[] bytes, string manifest) =>
        throw new SerializationException(
            $"refused a {bytes.Length}-byte payload for Akka's JSON serializer (id {JsonId}): this node reads only PapaActors' and Akka's own messages");

    private static SerializationException NoWireFormat(object o) =>
        new($"{o.GetType().FullName} has no wire format: only PapaActors messages (IPapaMessage) and Akka's own cross the network, never JSON");
}
