namespace PapaActors.Actors.Messages;

// The stream path (see Transfer.BulkTransport): weights on a TCP connection of their own, announced over Akka.

/// <summary>
/// Stands in a remote actor's mailbox for a message whose <paramref name="TotalBytes"/> of PapaSerializer bytes
/// travel on the stream connection: the receiver handles that message here, in the order its sender sent it.
/// </summary>
public sealed record StreamedMessage(long TransferId, long TotalBytes, string Manifest) : IPapaMessage;

/// <summary>The payload of streamed message <paramref name="TransferId"/> will not come (told by its sender or by the receiving node's reader).</summary>
public sealed record StreamTransferFailed(long TransferId, string Reason) : IPapaMessage;

/// <summary>Asks a node on which TCP port it accepts stream connections.</summary>
public sealed record StreamPortRequest : IPapaMessage;

/// <summary>A node's stream port, and the largest message it accepts (a sender never streams a larger one to it).</summary>
public sealed record StreamPort(int Port, long MaxMessageBytes) : IPapaMessage;
