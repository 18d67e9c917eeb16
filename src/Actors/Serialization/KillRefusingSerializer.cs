using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Remote.Serialization;
using Akka.Serialization;

namespace PapaActors.Actors.Serialization;

/// <summary>
/// Akka's serializer of its own small messages (Identify, PoisonPill, remote watch heartbeats ...), in its slot, that
/// refuses to read a <see cref="Kill"/>: untrusted mode drops a PoisonPill and the other possibly harmful messages from
/// the network, but Akka.NET's Kill is not one of them (1.5.73), so a stranger could otherwise kill any actor it names.
/// </summary>
public sealed class KillRefusingSerializer : SerializerWithStringManifest
{
    private readonly MiscMessageSerializer _akka;
    private readonly string _kill;

    public KillRefusingSerializer(ExtendedActorSystem system) : base(system)
    {
        _akka = new MiscMessageSerializer(system);
        _kill = _akka.Manifest(Kill.Instance);
    }

    public override int Identifier => _akka.Identifier;

    public override string Manifest(object o) => _akka.Manifest(o);

    public override byte[] ToBinary(object obj) => _akka.ToBinary(obj);

    public override object FromBinary(byte[] bytes, string manifest) => manifest == _kill
        ? throw new SerializationException("refused Akka's Kill from the network: no node of a run kills another's actors")
        : _akka.FromBinary(bytes, manifest);
}
