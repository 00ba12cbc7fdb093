package fsm

import (
	"slices"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// eligible reports whether a broker may lead or join an ISR: registered,
// unfenced and not shutting down.
func eligible(img *metadata.Image, id int32) bool {
	br, ok := img.Broker(id)
	return ok && !br.Fenced && !br.InControlledShutdown
}

// uncleanElection reports whether the topic allows electing a replica from
// outside the ISR.
func uncleanElection(img *metadata.Image, t *metadata.Topic) bool {
	return metadata.EffectiveTopicConfig(t.Configs, img.BrokerConfigs("")).UncleanLeaderElectionEnable
}

func changeRecord(t *metadata.Topic, p *metadata.Partition, leader int32, isr []int32) *stratav1.MetadataRecord {
	c := &stratav1.PartitionChangeRecord{TopicId: t.ID.Bytes(), PartitionId: p.ID}
	if leader != p.Leader {
		c.Leader = &leader
	}
	if !slices.Equal(isr, p.ISR) {
		c.Isr = &stratav1.BrokerIds{Ids: isr}
	}
	if c.Leader == nil && c.Isr == nil {
		return nil
	}
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_PartitionChange{PartitionChange: c}}
}

// removeFromPartitions takes broker id out of every ISR (never leaving an
// ISR empty: the last member stays, so it can lead again without data loss
// when it comes back) and moves its leaderships to the first eligible ISR
// member in replica order. A partition without one goes offline (leader -1),
// unless the topic allows unclean election and another replica is live.
func (b *batch) removeFromPartitions(id int32, _ bool) {
	for t := range b.img.Topics() {
		unclean := -1 // unknown yet
		for _, p := range t.Partitions {
			if p.Leader != id && !p.InISR(id) {
				continue
			}
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(x int32) bool { return x == id })
			if len(isr) == 0 {
				isr = []int32{id}
			}
			leader := p.Leader
			if leader == id {
				leader = metadata.NoLeader
				for _, r := range p.Replicas {
					if r != id && slices.Contains(isr, r) && eligible(b.img, r) {
						leader = r
						break
					}
				}
				if leader == metadata.NoLeader {
					if unclean == -1 {
						unclean = boolInt(uncleanElection(b.img, t))
					}
					if unclean == 1 {
						for _, r := range p.Replicas {
							if r != id && eligible(b.img, r) {
								leader, isr = r, []int32{r}
								break
							}
						}
					}
				}
			}
			if rec := changeRecord(t, p, leader, isr); rec != nil {
				b.add(rec)
			}
		}
	}
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// leadOfflinePartitions gives a leader to offline partitions that broker id,
// just unfenced, can lead: those whose ISR is it, and with unclean election
// enabled, those it is a replica of.
func (b *batch) leadOfflinePartitions(id int32) {
	for t := range b.img.Topics() {
		unclean := -1
		for _, p := range t.Partitions {
			if p.Leader != metadata.NoLeader || !p.IsReplica(id) {
				continue
			}
			switch {
			case p.InISR(id):
				b.add(changeRecord(t, p, id, p.ISR))
			default:
				if unclean == -1 {
					unclean = boolInt(uncleanElection(b.img, t))
				}
				if unclean == 1 && !slices.ContainsFunc(p.ISR, func(r int32) bool { return eligible(b.img, r) }) {
					b.add(changeRecord(t, p, id, []int32{id}))
				}
			}
		}
	}
}

func (b *batch) alterPartition(c *stratav1.AlterPartitionCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	req := c.GetRequest()
	if _, fail := b.currentBroker(req.GetBrokerId(), req.GetBrokerEpoch()); fail != nil {
		return nil, fail
	}
	resp := &stratav1.AlterPartitionResponse{}
	for _, tr := range req.GetTopics() {
		out := &stratav1.AlterPartitionTopicResult{TopicId: tr.GetTopicId()}
		resp.Topics = append(resp.Topics, out)
		id, err := metadata.TopicIDFromBytes(tr.GetTopicId())
		t, found := b.img.TopicByID(id)
		for _, pr := range tr.GetPartitions() {
			r := &stratav1.AlterPartitionPartitionResult{PartitionId: pr.GetPartitionId()}
			out.Partitions = append(out.Partitions, r)
			if err != nil || !found {
				r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_ID, "unknown topic id"
				continue
			}
			p, ok := t.Partition(pr.GetPartitionId())
			if !ok {
				r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition."
				continue
			}
			b.alterOne(t, p, req.GetBrokerId(), pr, r)
		}
	}
	res := ok()
	res.Result = &stratav1.CommandResult_AlterPartition{AlterPartition: resp}
	return b.recs, res
}

func (b *batch) alterOne(t *metadata.Topic, p *metadata.Partition, broker int32, pr *stratav1.AlterPartitionPartition, r *stratav1.AlterPartitionPartitionResult) {
	fill := func(leader int32, leaderEpoch, partitionEpoch int32, isr []int32) {
		r.Leader, r.LeaderEpoch, r.PartitionEpoch, r.Isr = leader, leaderEpoch, partitionEpoch, isr
	}
	fill(p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR)
	fail := func(code stratav1.ErrorCode, msg string) { r.ErrorCode, r.ErrorMessage = code, msg }
	// The epochs come first, as in Kafka: a deposed leader that has not
	// learnt it yet sends an old leader epoch and gets FENCED_LEADER_EPOCH.
	switch {
	case pr.GetLeaderEpoch() < p.LeaderEpoch:
		fail(stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH, "the leader epoch is older than the current one")
		return
	case pr.GetLeaderEpoch() > p.LeaderEpoch:
		fail(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH, "the leader epoch is newer than the current one")
		return
	case p.Leader != broker:
		fail(stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, "broker is not the leader of the partition")
		return
	case pr.GetPartitionEpoch() != p.PartitionEpoch:
		fail(stratav1.ErrorCode_ERROR_CODE_INVALID_UPDATE_VERSION, "the partition epoch is not the current one")
		return
	}
	isr := pr.GetNewIsr()
	for i, x := range isr {
		if !p.IsReplica(x) {
			fail(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "the new ISR contains a broker that is not a replica")
			return
		}
		if slices.Contains(isr[:i], x) {
			fail(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "the new ISR contains a broker twice")
			return
		}
		if !p.InISR(x) && !eligible(b.img, x) {
			fail(stratav1.ErrorCode_ERROR_CODE_INELIGIBLE_REPLICA, "the new ISR adds a replica that is fenced or shutting down")
			return
		}
	}
	if !slices.Contains(isr, broker) {
		fail(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "the new ISR must contain the leader")
		return
	}
	rec := changeRecord(t, p, p.Leader, slices.Clone(isr))
	if rec == nil {
		return
	}
	b.add(rec)
	fill(p.Leader, p.LeaderEpoch, p.PartitionEpoch+1, slices.Clone(isr))
}

func (b *batch) electLeaders(c *stratav1.ElectLeadersCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	resp := &stratav1.ElectLeadersResponse{}
	typ := c.GetElectionType()
	elect := func(t *metadata.Topic, p *metadata.Partition, explicit bool) {
		code, msg := b.electOne(typ, t, p)
		if explicit || code == stratav1.ErrorCode_ERROR_CODE_NONE {
			resp.Results = append(resp.Results, &stratav1.ElectionResult{Topic: t.Name, PartitionId: p.ID, ErrorCode: code, ErrorMessage: msg})
		}
	}
	if len(c.GetPartitions()) == 0 {
		for t := range b.img.Topics() {
			for _, p := range t.Partitions {
				elect(t, p, false)
			}
		}
	}
	for _, tp := range c.GetPartitions() {
		t, found := b.img.Topic(tp.GetTopic())
		for _, id := range tp.GetPartitions() {
			if !found {
				resp.Results = append(resp.Results, &stratav1.ElectionResult{Topic: tp.GetTopic(), PartitionId: id,
					ErrorCode: stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, ErrorMessage: "This server does not host this topic-partition."})
				continue
			}
			p, ok := t.Partition(id)
			if !ok {
				resp.Results = append(resp.Results, &stratav1.ElectionResult{Topic: tp.GetTopic(), PartitionId: id,
					ErrorCode: stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, ErrorMessage: "This server does not host this topic-partition."})
				continue
			}
			elect(t, p, true)
		}
	}
	res := ok()
	res.Result = &stratav1.CommandResult_ElectLeaders{ElectLeaders: resp}
	return b.recs, res
}

func (b *batch) electOne(typ stratav1.ElectionType, t *metadata.Topic, p *metadata.Partition) (stratav1.ErrorCode, string) {
	switch typ {
	case stratav1.ElectionType_ELECTION_TYPE_PREFERRED:
		pref := p.PreferredLeader()
		if p.Leader == pref {
			return stratav1.ErrorCode_ERROR_CODE_ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."
		}
		if !p.InISR(pref) || !eligible(b.img, pref) {
			return stratav1.ErrorCode_ERROR_CODE_PREFERRED_LEADER_NOT_AVAILABLE, "The preferred leader was not available."
		}
		b.add(changeRecord(t, p, pref, p.ISR))
	case stratav1.ElectionType_ELECTION_TYPE_UNCLEAN:
		if p.Leader != metadata.NoLeader {
			return stratav1.ErrorCode_ERROR_CODE_ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."
		}
		for _, r := range p.Replicas {
			if p.InISR(r) && eligible(b.img, r) {
				b.add(changeRecord(t, p, r, p.ISR))
				return stratav1.ErrorCode_ERROR_CODE_NONE, ""
			}
		}
		for _, r := range p.Replicas {
			if eligible(b.img, r) {
				b.add(changeRecord(t, p, r, []int32{r}))
				return stratav1.ErrorCode_ERROR_CODE_NONE, ""
			}
		}
		return stratav1.ErrorCode_ERROR_CODE_ELIGIBLE_LEADERS_NOT_AVAILABLE, "No live replica can lead the partition."
	default:
		return stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "unknown election type"
	}
	return stratav1.ErrorCode_ERROR_CODE_NONE, ""
}
